-- Resellers buy vouchers from a prepaid wallet. Money is integer cents. Every change of a
-- balance is one transaction that appends a ledger row and updates the wallet; the
-- schema, not the application, guarantees that a wallet never goes below its credit
-- limit and that the ledger is never rewritten.

CREATE TABLE resellers (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 64),
    email              text NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    credit_limit_cents bigint NOT NULL DEFAULT 0 CHECK (credit_limit_cents >= 0),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- The target of wallets' foreign key, which copies the credit limit.
    UNIQUE (id, credit_limit_cents)
);

-- One wallet per reseller. The credit limit is copied onto the wallet row so that a plain
-- CHECK on one row enforces it; the foreign key with ON UPDATE CASCADE keeps the copy equal
-- to resellers.credit_limit_cents, and lowering a limit below a reseller's current debt
-- fails on this CHECK.
CREATE TABLE wallets (
    reseller_id        bigint PRIMARY KEY,
    balance_cents      bigint NOT NULL DEFAULT 0,
    credit_limit_cents bigint NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallets_reseller_fkey FOREIGN KEY (reseller_id, credit_limit_cents)
        REFERENCES resellers (id, credit_limit_cents) ON UPDATE CASCADE,
    CONSTRAINT wallets_balance_within_credit_limit CHECK (balance_cents >= -credit_limit_cents)
);

-- The ledger: one row per money movement, never updated or deleted. amount_cents is
-- signed (+credit, −debit) and balance_after_cents is the wallet's balance right after it,
-- so a reseller's statement needs no running sum. idempotency_key is unique across all
-- resellers: the same request (a retried top-up, a replayed webhook, a purchase sent
-- twice) finds the row it wrote the first time instead of moving money again.
CREATE TABLE ledger_entries (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reseller_id         bigint NOT NULL REFERENCES wallets (reseller_id),
    at                  timestamptz NOT NULL DEFAULT now(),
    amount_cents        bigint NOT NULL,
    balance_after_cents bigint NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('topup', 'purchase', 'refund', 'adjustment')),
    note                text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    idempotency_key     text NOT NULL UNIQUE CHECK (idempotency_key <> '' AND length(idempotency_key) <= 200),
    ref                 text NOT NULL DEFAULT '' CHECK (length(ref) <= 200),
    actor               text NOT NULL CHECK (actor <> '' AND length(actor) <= 254),
    -- Top-ups and refunds add money, purchases take it; adjustments go either way.
    CONSTRAINT ledger_entries_amount_sign CHECK (
        amount_cents <> 0 AND CASE kind
            WHEN 'topup'    THEN amount_cents > 0
            WHEN 'refund'   THEN amount_cents > 0
            WHEN 'purchase' THEN amount_cents < 0
            ELSE true
        END)
);
-- A reseller's statement, newest first.
CREATE INDEX ledger_entries_reseller_id ON ledger_entries (reseller_id, id);

-- Append-only: a correction is a new 'adjustment' row, never an edit.
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'record a correction as a new adjustment entry';
END $$;

CREATE TRIGGER ledger_entries_no_update_delete
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();
