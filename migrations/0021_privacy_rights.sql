-- The privacy center's rights (issue 9, second part): data-subject requests with their
-- due dates (export by email, erasure, review of an automated decision), confirmation
-- of a changed email address, and the erasure that pseudonymises what must be kept and
-- removes the rest, leaving a record of the erasure that names no one.

-- Requests a data subject made, the queue staff answer within 30 days (due_at). An
-- erasure is carried out at run_at (after TOLLGATE_ERASURE_GRACE, while the subscriber
-- may still cancel it); a review names the automated decision it objects to (decision
-- and decision_ref) in the subscriber's words (message), and staff close it with an
-- outcome and a note. An export asked for by email is recorded when staff answer it.
-- Restrictions are not rows here: they are in force from the moment they are asked
-- for (subscribers.restricted, restriction_history).
CREATE TABLE privacy_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('export', 'erasure', 'review')),
    subscriber_id bigint NOT NULL REFERENCES subscribers (id),
    source        text NOT NULL CHECK (source IN ('web', 'api', 'admin', 'cli')),
    requested_by  text NOT NULL CHECK (requested_by <> '' AND length(requested_by) <= 300),
    created_at    timestamptz NOT NULL,
    due_at        timestamptz NOT NULL CHECK (due_at >= created_at),
    run_at        timestamptz,
    decision      text NOT NULL DEFAULT '' CHECK (length(decision) <= 200),
    decision_ref  text NOT NULL DEFAULT '' CHECK (length(decision_ref) <= 100),
    message       text NOT NULL DEFAULT '' CHECK (length(message) <= 2000),
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'cancelled')),
    outcome       text NOT NULL DEFAULT '' CHECK (outcome IN ('', 'upheld', 'changed', 'erased', 'exported')),
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    closed_at     timestamptz,
    closed_by     text NOT NULL DEFAULT '' CHECK (length(closed_by) <= 300),
    -- The erasure's "your data is erased" email, sent before the address is dropped.
    notice_id     bigint REFERENCES notifications (id),
    CONSTRAINT privacy_requests_erasure_run CHECK ((kind = 'erasure') = (run_at IS NOT NULL)),
    CONSTRAINT privacy_requests_closed CHECK ((state = 'open') = (closed_at IS NULL))
);
-- One erasure at a time per subscriber.
CREATE UNIQUE INDEX privacy_requests_one_erasure ON privacy_requests (subscriber_id)
    WHERE kind = 'erasure' AND state = 'open';
CREATE INDEX privacy_requests_open ON privacy_requests (due_at) WHERE state = 'open';
CREATE INDEX privacy_requests_subscriber ON privacy_requests (subscriber_id, id);

-- A new email address waits here until the subscriber confirms it from the link sent
-- to it; the old address stays in use until then. Only the SHA-256 of the random token
-- is kept. Confirming one spends every other open change of the subscriber.
CREATE TABLE email_confirmations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL CHECK (expires_at > created_at),
    used_at       timestamptz
);
CREATE INDEX email_confirmations_open ON email_confirmations (subscriber_id) WHERE used_at IS NULL;

-- The record that an erasure was done: the pseudonym the kept records now carry and
-- when. No old identifier, and no link to anything else.
CREATE TABLE erasures (
    pseudonym text PRIMARY KEY CHECK (pseudonym ~ '^erased-[a-z2-7]{10,32}$'),
    erased_at timestamptz NOT NULL
);

-- An erasure pseudonymises rows that are otherwise never changed: the ledger (note,
-- reference, actor, idempotency key), invoice lines (description) and the audit log
-- (actor, target, detail, address). Only a transaction that declared itself an erasure
-- (SET LOCAL tollgate.erasure = 'on', billing/postgres) may, and only those columns;
-- every other change, and every DELETE or TRUNCATE, is refused as before.
CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' AND TG_OP = 'UPDATE' AND current_setting('tollgate.erasure', true) = 'on'
       AND (to_jsonb(NEW) - 'note' - 'ref' - 'actor' - 'idempotency_key')
         = (to_jsonb(OLD) - 'note' - 'ref' - 'actor' - 'idempotency_key') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'record a correction as a new adjustment entry';
END $$;

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' AND TG_OP = 'UPDATE' AND current_setting('tollgate.erasure', true) = 'on'
       AND (to_jsonb(NEW) - 'actor' - 'target' - 'detail' - 'ip')
         = (to_jsonb(OLD) - 'actor' - 'target' - 'detail' - 'ip') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE FUNCTION invoice_lines_erasable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('tollgate.erasure', true) = 'on'
       AND (to_jsonb(NEW) - 'description') = (to_jsonb(OLD) - 'description') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'invoice_lines is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

DROP TRIGGER invoice_lines_no_change ON invoice_lines;
CREATE TRIGGER invoice_lines_no_change BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_erasable();

-- erasure_scrub replaces every identifier of olds (each at least 2 characters, longest
-- first so that an address is replaced before a name inside it), in any case, by
-- pseudonym in t.
CREATE FUNCTION erasure_scrub(t text, olds text[], pseudonym text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    o text;
BEGIN
    IF t IS NULL OR t = '' THEN
        RETURN t;
    END IF;
    FOR o IN SELECT x FROM unnest(olds) AS x WHERE length(x) >= 2 ORDER BY length(x) DESC LOOP
        t := regexp_replace(t, regexp_replace(o, '([.*+?^${}()|\[\]\\])', '\\\1', 'g'), pseudonym, 'gi');
    END LOOP;
    RETURN t;
END $$;

-- erasure_scrub_jsonb is erasure_scrub on every string value of j (keys are the
-- application's, never personal data).
CREATE FUNCTION erasure_scrub_jsonb(j jsonb, olds text[], pseudonym text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    CASE jsonb_typeof(j)
    WHEN 'string' THEN
        RETURN to_jsonb(erasure_scrub(j #>> '{}', olds, pseudonym));
    WHEN 'object' THEN
        RETURN coalesce((SELECT jsonb_object_agg(k, erasure_scrub_jsonb(v, olds, pseudonym))
                         FROM jsonb_each(j) AS e(k, v)), '{}'::jsonb);
    WHEN 'array' THEN
        RETURN coalesce((SELECT jsonb_agg(erasure_scrub_jsonb(v, olds, pseudonym) ORDER BY i)
                         FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, i)), '[]'::jsonb);
    ELSE
        RETURN j;
    END CASE;
END $$;

-- The payments' tables (0019) keep what names a person likewise: a top-up's note and
-- checkout address, the account a payer typed and the reference sent, a review's raw
-- event, note and resolver. An erasure may rewrite those, and nothing else.
CREATE OR REPLACE FUNCTION topups_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('tollgate.erasure', true) = 'on'
       AND (to_jsonb(NEW) - 'note' - 'authorization_url') = (to_jsonb(OLD) - 'note' - 'authorization_url') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'top-ups are kept: DELETE refused' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.state <> 'pending' THEN
        RAISE EXCEPTION 'top-up % is %: it never changes again', OLD.reference, OLD.state
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.reference, NEW.subscriber_id, NEW.provider, NEW.amount_cents, NEW.currency, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.reference, OLD.subscriber_id, OLD.provider, OLD.amount_cents, OLD.currency, OLD.created_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'top-up %: only its state moves', OLD.reference
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION payments_outcome_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('tollgate.erasure', true) = 'on'
       AND (to_jsonb(NEW) - 'account' - 'reference') = (to_jsonb(OLD) - 'account' - 'reference') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.outcome IS NULL
       AND (to_jsonb(NEW) - 'outcome' - 'topup_id' - 'subscriber_id' - 'ledger_entry_id')
         = (to_jsonb(OLD) - 'outcome' - 'topup_id' - 'subscriber_id' - 'ledger_entry_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'payments are facts once recorded: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE OR REPLACE FUNCTION payment_reviews_resolve_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('tollgate.erasure', true) = 'on'
       AND (to_jsonb(NEW) - 'raw' - 'note' - 'resolved_by') = (to_jsonb(OLD) - 'raw' - 'note' - 'resolved_by') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.state = 'open'
       AND (to_jsonb(NEW) - 'state' - 'resolved_at' - 'resolved_by' - 'note' - 'subscriber_id' - 'ledger_entry_id')
         = (to_jsonb(OLD) - 'state' - 'resolved_at' - 'resolved_by' - 'note' - 'subscriber_id' - 'ledger_entry_id') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.state <> 'open' AND NEW.raw IS NULL
       AND (to_jsonb(NEW) - 'raw' - 'raw_cleared_at') = (to_jsonb(OLD) - 'raw' - 'raw_cleared_at') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'payment review %: resolved once, never changed: % refused', OLD.id, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
