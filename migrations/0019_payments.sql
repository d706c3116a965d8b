-- Online payments (issue 8, "Payments"): top-ups a subscriber starts at a provider
-- (Paystack, or a gateway that forwards payments as Standard Webhooks), the payments
-- the providers' webhooks report, deduplicated by the provider's own id, and the
-- payments tollgate would not credit by itself, kept for an admin to review.

-- A top-up: a checkout tollgate started, named by a reference it made up (tg- and 24
-- random characters) that the provider sends back with the payment. Its state only
-- moves forward: pending → paid | failed | expired, and a top-up that left pending
-- never changes again (the trigger below). A paid one names the ledger entry that
-- credited it; expires_at is created_at + TOLLGATE_TOPUP_TTL.
CREATE TABLE topups (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference         text NOT NULL UNIQUE CHECK (reference ~ '^tg-[A-Z0-9]{24}$'),
    subscriber_id     bigint NOT NULL REFERENCES subscribers (id),
    provider          text NOT NULL CHECK (provider IN ('paystack', 'generic')),
    amount_cents      bigint NOT NULL CHECK (amount_cents > 0),
    currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'paid', 'failed', 'expired')),
    authorization_url text NOT NULL DEFAULT '' CHECK (length(authorization_url) <= 2000),
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    -- When the top-up left pending, and why (a failure's reason, "" otherwise).
    closed_at         timestamptz,
    note              text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    ledger_entry_id   bigint UNIQUE REFERENCES ledger_entries (id),
    CONSTRAINT topups_expiry CHECK (expires_at > created_at),
    CONSTRAINT topups_closed CHECK ((state = 'pending') = (closed_at IS NULL)),
    CONSTRAINT topups_paid_entry CHECK ((state = 'paid') = (ledger_entry_id IS NOT NULL))
);
CREATE INDEX topups_subscriber ON topups (subscriber_id, id);
-- The billing pass expires pending top-ups past their expiry.
CREATE INDEX topups_pending ON topups (expires_at) WHERE state = 'pending';

CREATE FUNCTION topups_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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

CREATE TRIGGER topups_forward BEFORE UPDATE OR DELETE ON topups
    FOR EACH ROW EXECUTE FUNCTION topups_forward_only();
CREATE TRIGGER topups_no_truncate BEFORE TRUNCATE ON topups
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- A payment a provider reported, once per provider transaction: the unique key is what
-- makes a repeated or concurrent webhook credit once. outcome says what tollgate did
-- with it: credited (to the wallet of subscriber_id, by ledger_entry_id) or review.
CREATE TABLE payments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider        text NOT NULL CHECK (provider IN ('paystack', 'generic')),
    provider_id     text NOT NULL CHECK (length(provider_id) BETWEEN 1 AND 200),
    reference       text NOT NULL DEFAULT '' CHECK (length(reference) <= 200),
    account         text NOT NULL DEFAULT '' CHECK (length(account) <= 200),
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    received_at     timestamptz NOT NULL,
    outcome         text CHECK (outcome IN ('credited', 'review')),
    topup_id        bigint REFERENCES topups (id),
    subscriber_id   bigint REFERENCES subscribers (id),
    ledger_entry_id bigint UNIQUE REFERENCES ledger_entries (id),
    CONSTRAINT payments_once UNIQUE (provider, provider_id),
    CONSTRAINT payments_credited CHECK ((outcome = 'credited') = (ledger_entry_id IS NOT NULL))
);

-- A payment's outcome is written once, in the transaction that recorded it.
CREATE FUNCTION payments_outcome_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.outcome IS NULL
       AND (to_jsonb(NEW) - 'outcome' - 'topup_id' - 'subscriber_id' - 'ledger_entry_id')
         = (to_jsonb(OLD) - 'outcome' - 'topup_id' - 'subscriber_id' - 'ledger_entry_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'payments are facts once recorded: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER payments_no_change BEFORE UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION payments_outcome_once();
CREATE TRIGGER payments_no_truncate BEFORE TRUNCATE ON payments
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- Payments tollgate did not credit by itself, for an admin: an unknown reference, an
-- amount or currency that does not match the top-up, a top-up that expired (or was no
-- longer pending) when the money came, an account that names no subscriber. raw is the
-- event's body exactly as received (text, not jsonb, so that nothing a provider sends
-- can fail the insert): it may hold personal data (the payer's email, name, phone, card
-- digits), so it is cleared 90 days after the review is resolved (the billing pass does
-- it); the payment row and the resolution are kept with the ledger.
-- A review is resolved once: credited to a subscriber chosen by the admin (with the
-- amount received) or dismissed with a note.
CREATE TABLE payment_reviews (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id      bigint NOT NULL UNIQUE REFERENCES payments (id),
    reason          text NOT NULL CHECK (reason IN ('unknown_reference', 'amount_mismatch', 'currency_mismatch',
                        'topup_expired', 'topup_not_pending', 'provider_mismatch', 'unknown_account')),
    raw             text CHECK (length(raw) <= 65536),
    created_at      timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'credited', 'dismissed')),
    resolved_at     timestamptz,
    resolved_by     text NOT NULL DEFAULT '' CHECK (length(resolved_by) <= 320),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    subscriber_id   bigint REFERENCES subscribers (id),
    ledger_entry_id bigint UNIQUE REFERENCES ledger_entries (id),
    raw_cleared_at  timestamptz,
    CONSTRAINT payment_reviews_resolved CHECK ((state = 'open') = (resolved_at IS NULL)),
    CONSTRAINT payment_reviews_credited CHECK ((state = 'credited') = (ledger_entry_id IS NOT NULL)),
    CONSTRAINT payment_reviews_dismissed CHECK (state <> 'dismissed' OR note <> ''),
    CONSTRAINT payment_reviews_raw CHECK ((raw IS NULL) = (raw_cleared_at IS NOT NULL))
);
CREATE INDEX payment_reviews_open ON payment_reviews (id) WHERE state = 'open';

-- A resolved review never changes again, but for clearing its raw event.
CREATE FUNCTION payment_reviews_resolve_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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

CREATE TRIGGER payment_reviews_no_change BEFORE UPDATE OR DELETE ON payment_reviews
    FOR EACH ROW EXECUTE FUNCTION payment_reviews_resolve_once();

-- Standard Webhooks deliveries seen (webhook-id), so a redelivered message is answered
-- without running again. Kept 7 days: far beyond the 5 minutes a signed timestamp is
-- accepted for, so a replay is refused by one or the other.
CREATE TABLE payment_deliveries (
    provider    text NOT NULL,
    delivery_id text NOT NULL CHECK (length(delivery_id) BETWEEN 1 AND 200),
    received_at timestamptz NOT NULL,
    PRIMARY KEY (provider, delivery_id)
);
CREATE INDEX payment_deliveries_received ON payment_deliveries (received_at);
