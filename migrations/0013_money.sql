-- The money engine (issue 8): subscribers get wallets in the resellers' ledger, PPPoE
-- subscriptions are renewed from them once per period, unpaid subscribers are isolated,
-- and every renewal and every payment is documented by an immutable, gaplessly numbered
-- invoice or receipt.

-- Plans: how long a paid period lasts ('month' = a calendar month that keeps the day of
-- the month, or a number of days such as '30d'), how long an unpaid subscriber keeps
-- service before isolation, and the plan (rate limit, pool, address list) an isolated
-- subscriber gets. No isolation plan: an unpaid subscriber is rejected.
ALTER TABLE plans
    ADD COLUMN period text NOT NULL DEFAULT '30d'
        CHECK (period = 'month' OR period ~ '^[1-9][0-9]{0,2}d$'),
    ADD COLUMN grace_seconds bigint NOT NULL DEFAULT 0
        CHECK (grace_seconds BETWEEN 0 AND 90 * 86400),
    ADD COLUMN isolation_plan_id bigint REFERENCES plans (id),
    ADD CONSTRAINT plans_isolation_not_self CHECK (isolation_plan_id <> id);

-- One wallet engine for resellers and subscribers. A wallet gets an id of its own and
-- exactly one owner; ledger entries name their wallet. Existing entries are moved to
-- their wallet's id (the append-only trigger is set aside for that one statement, in
-- this migration's transaction).
ALTER TABLE wallets ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE wallets ADD COLUMN subscriber_id bigint REFERENCES subscribers (id);

ALTER TABLE ledger_entries ADD COLUMN wallet_id bigint;
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_no_update_delete;
UPDATE ledger_entries l SET wallet_id = w.id FROM wallets w WHERE w.reseller_id = l.reseller_id;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_no_update_delete;
ALTER TABLE ledger_entries ALTER COLUMN wallet_id SET NOT NULL;
-- Drops its foreign key to wallets (reseller_id), its index and the per-reseller key.
ALTER TABLE ledger_entries DROP COLUMN reseller_id;

ALTER TABLE wallets DROP CONSTRAINT wallets_pkey;
ALTER TABLE wallets ADD PRIMARY KEY (id);
ALTER TABLE wallets ALTER COLUMN reseller_id DROP NOT NULL;
ALTER TABLE wallets
    ADD CONSTRAINT wallets_reseller_id_key UNIQUE (reseller_id),
    ADD CONSTRAINT wallets_subscriber_id_key UNIQUE (subscriber_id),
    ADD CONSTRAINT wallets_one_owner CHECK ((reseller_id IS NULL) <> (subscriber_id IS NULL)),
    -- A subscriber pays in advance: his wallet never goes below zero.
    ADD CONSTRAINT wallets_subscriber_no_credit CHECK (subscriber_id IS NULL OR credit_limit_cents = 0);

ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_wallet_id_fkey FOREIGN KEY (wallet_id) REFERENCES wallets (id),
    -- An idempotency key names one request to one wallet.
    ADD CONSTRAINT ledger_entries_wallet_idempotency_key UNIQUE (wallet_id, idempotency_key);
-- A wallet's statement, newest first, and over a period.
CREATE INDEX ledger_entries_wallet_id ON ledger_entries (wallet_id, id);

-- Payments (a provider's, e.g. Paystack) add money; renewals take it.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('topup', 'purchase', 'refund', 'adjustment', 'payment', 'renewal'));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_amount_sign;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_amount_sign CHECK (
    amount_cents <> 0 AND CASE kind
        WHEN 'topup'    THEN amount_cents > 0
        WHEN 'refund'   THEN amount_cents > 0
        WHEN 'payment'  THEN amount_cents > 0
        WHEN 'purchase' THEN amount_cents < 0
        WHEN 'renewal'  THEN amount_cents < 0
        ELSE true
    END);

-- Every subscriber has a wallet: the existing ones now, new ones as they are inserted
-- (one statement-level trigger, so a bulk import adds its wallets in one INSERT).
INSERT INTO wallets (subscriber_id) SELECT id FROM subscribers;

CREATE FUNCTION subscribers_add_wallets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wallets (subscriber_id) SELECT id FROM added;
    RETURN NULL;
END $$;

CREATE TRIGGER subscribers_wallet AFTER INSERT ON subscribers
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION subscribers_add_wallets();

-- A refusal for the tables that are facts once written: renewals and invoice lines.
CREATE FUNCTION append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

-- A subscription: the period being served (or owed), whether it is paid, and the state
-- the RADIUS path reads. anchor_day is the day of the month calendar-month periods keep
-- (31 renews on 28/29 February, then on 31 March). next_plan_id is a plan change that
-- takes effect at the next renewal. One row per subscriber: a cancelled subscription is
-- restarted when the subscriber returns to a priced PPPoE plan.
CREATE TABLE subscriptions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id bigint NOT NULL UNIQUE REFERENCES subscribers (id),
    plan_id       bigint NOT NULL REFERENCES plans (id),
    next_plan_id  bigint REFERENCES plans (id),
    state         text NOT NULL DEFAULT 'active'
                  CHECK (state IN ('active', 'grace', 'isolated', 'cancelled')),
    paid          boolean NOT NULL DEFAULT false,
    anchor_day    smallint NOT NULL CHECK (anchor_day BETWEEN 1 AND 31),
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    grace_until   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_period CHECK (period_end > period_start),
    -- Only an unpaid subscription is in grace or isolated.
    CONSTRAINT subscriptions_paid_active CHECK (NOT paid OR state IN ('active', 'cancelled'))
);
-- The billing pass looks at the subscriptions that are not cancelled.
CREATE INDEX subscriptions_period_end ON subscriptions (period_end) WHERE state <> 'cancelled';

-- Invoices and receipts. Numbers are gapless per kind and year: the counter row is
-- updated in the transaction that issues the document, so a rollback takes its number
-- back, and concurrent issuers queue on the row.
CREATE TABLE invoice_counters (
    kind text NOT NULL CHECK (kind IN ('invoice', 'receipt')),
    year integer NOT NULL CHECK (year BETWEEN 2000 AND 9999),
    last integer NOT NULL CHECK (last > 0),
    PRIMARY KEY (kind, year)
);

-- A document keeps its own copy of what it says (customer, plan, tax), so that it reads
-- the same forever; the customer's username and name are the only columns a later
-- erasure may pseudonymise. Prices are tax-inclusive: total = net + tax.
CREATE TABLE invoices (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number          text NOT NULL UNIQUE,
    kind            text NOT NULL CHECK (kind IN ('invoice', 'receipt')),
    year            integer NOT NULL,
    seq             integer NOT NULL CHECK (seq > 0),
    issued_at       timestamptz NOT NULL,
    subscriber_id   bigint NOT NULL REFERENCES subscribers (id),
    username        text NOT NULL,
    customer_name   text NOT NULL DEFAULT '',
    plan_name       text NOT NULL DEFAULT '',
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    net_cents       bigint NOT NULL CHECK (net_cents >= 0),
    tax_cents       bigint NOT NULL CHECK (tax_cents >= 0),
    total_cents     bigint NOT NULL CHECK (total_cents > 0 AND total_cents = net_cents + tax_cents),
    tax_rate_bp     integer NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    tax_name        text NOT NULL CHECK (length(tax_name) BETWEEN 1 AND 32),
    ledger_entry_id bigint NOT NULL UNIQUE REFERENCES ledger_entries (id),
    period_start    timestamptz,
    period_end      timestamptz,
    CONSTRAINT invoices_number_once UNIQUE (kind, year, seq)
);
CREATE INDEX invoices_subscriber ON invoices (subscriber_id, id);

CREATE TABLE invoice_lines (
    invoice_id  bigint NOT NULL REFERENCES invoices (id),
    line        integer NOT NULL CHECK (line > 0),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 200),
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_cents  bigint NOT NULL,
    net_cents   bigint NOT NULL,
    tax_cents   bigint NOT NULL,
    total_cents bigint NOT NULL CHECK (total_cents = net_cents + tax_cents),
    PRIMARY KEY (invoice_id, line)
);

-- Issued documents never change, except the customer's identity on erasure.
CREATE FUNCTION invoices_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'username' - 'customer_name')
                          = (to_jsonb(OLD) - 'username' - 'customer_name') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'invoices are immutable once issued: % refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'correct a document with a new one';
END $$;

CREATE TRIGGER invoices_no_change BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_immutable();
CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER invoice_lines_no_change BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER invoice_lines_no_truncate BEFORE TRUNCATE ON invoice_lines
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- A renewal: one period of one subscription paid, once. The unique constraint is what
-- makes a racing pass, a payment and a retry charge a period once.
CREATE TABLE renewals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    plan_id         bigint NOT NULL REFERENCES plans (id),
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    ledger_entry_id bigint NOT NULL UNIQUE REFERENCES ledger_entries (id),
    invoice_id      bigint NOT NULL UNIQUE REFERENCES invoices (id),
    at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT renewals_once_per_period UNIQUE (subscription_id, period_start),
    CHECK (period_end > period_start)
);

CREATE TRIGGER renewals_no_change BEFORE UPDATE OR DELETE ON renewals
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER renewals_no_truncate BEFORE TRUNCATE ON renewals
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- Subscribers already on a priced PPPoE plan get a subscription paid until their
-- valid_until (what they paid before tollgate kept money), or for 30 more days when it
-- has no end; calendar months are anchored on that day (UTC).
INSERT INTO subscriptions (subscriber_id, plan_id, state, paid, anchor_day, period_start, period_end)
SELECT s.id, s.plan_id, 'active', true,
       extract(day FROM e.period_end AT TIME ZONE 'UTC')::smallint,
       least(coalesce(s.valid_from, s.created_at), e.period_end - interval '1 day'),
       e.period_end
FROM subscribers s
JOIN plans p ON p.id = s.plan_id
CROSS JOIN LATERAL (SELECT coalesce(s.valid_until, now() + interval '30 days') AS period_end) e
WHERE p.kind = 'pppoe' AND p.price_cents > 0;
