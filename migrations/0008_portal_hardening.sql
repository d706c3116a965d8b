-- Portal hardening: a reseller account names a reseller by foreign key, accounts can be
-- disabled, open sessions notice any change they rely on, wallet idempotency keys are
-- scoped to their wallet, and the audit log is append-only like the ledger.

-- A reseller's portal account points at its billing reseller instead of repeating its
-- name as free text. Existing rows are matched by name; a name with no reseller gets one
-- (active, no credit, an empty wallet), so no account loses its pages in the upgrade.
ALTER TABLE portal_users ADD COLUMN reseller_id bigint REFERENCES resellers (id);

WITH missing AS (
    INSERT INTO resellers (name)
    SELECT DISTINCT p.reseller_name FROM portal_users p
    WHERE p.reseller_name IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM resellers r WHERE r.name = p.reseller_name)
    RETURNING id, credit_limit_cents
)
INSERT INTO wallets (reseller_id, credit_limit_cents)
SELECT id, credit_limit_cents FROM missing;

UPDATE portal_users p SET reseller_id = r.id FROM resellers r WHERE r.name = p.reseller_name;

ALTER TABLE portal_users DROP CONSTRAINT portal_users_reseller_name;
ALTER TABLE portal_users DROP COLUMN reseller_name;
-- A reseller account has a reseller; an admin has none.
ALTER TABLE portal_users ADD CONSTRAINT portal_users_reseller
    CHECK ((role = 'reseller') = (reseller_id IS NOT NULL));
CREATE INDEX portal_users_reseller_id ON portal_users (reseller_id) WHERE reseller_id IS NOT NULL;

-- disabled_at: set while an account may not sign in. session_gen: every change that an
-- open session relies on (role, reseller, second factor, disabling) adds one, and a
-- session started under another number is ended at its next request.
ALTER TABLE portal_users
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN session_gen bigint NOT NULL DEFAULT 1;

-- An idempotency key names one request to one wallet: the same key sent to another
-- wallet is another request. (A payment provider's event id stays unique per wallet it
-- credits.)
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_idempotency_key_key;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reseller_idempotency_key
    UNIQUE (reseller_id, idempotency_key);

-- The audit log is append-only: an entry, once written, is never changed or removed.
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
