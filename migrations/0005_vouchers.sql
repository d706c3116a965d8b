-- Hotspot vouchers. A plan gains what vouchers sold on it need: the reseller's price,
-- when validity starts (the first login, or the sale), a lock to the first device's MAC,
-- and where it is valid (NAS names and hotspot servers, i.e. Called-Station-Id; empty =
-- everywhere). Vouchers are made in batches; each logs in over RADIUS like a subscriber.

ALTER TABLE plans
    ADD COLUMN reseller_price_cents bigint NOT NULL DEFAULT 0 CHECK (reseller_price_cents >= 0),
    ADD COLUMN validity_from text NOT NULL DEFAULT 'first_login' CHECK (validity_from IN ('first_login', 'sale')),
    ADD COLUMN lock_mac boolean NOT NULL DEFAULT false,
    ADD COLUMN nas_names text[] NOT NULL DEFAULT '{}',
    ADD COLUMN hotspot_servers text[] NOT NULL DEFAULT '{}';

-- A batch is one `voucher generate`. reseller is free text until resellers exist as rows.
CREATE TABLE voucher_batches (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id    bigint NOT NULL REFERENCES plans (id),
    mode       text NOT NULL CHECK (mode IN ('code', 'userpass')),
    count      integer NOT NULL CHECK (count > 0),
    reseller   text CHECK (reseller <> '' AND length(reseller) <= 64),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- username is what the router sends as User-Name: the code itself in code mode, a
-- generated name in userpass mode. password is sealed by the application like a
-- subscriber's (the code, in code mode). Codes and usernames are unique across the
-- database. valid_until is set at the sale for plans counted from the sale, and at the
-- first login otherwise; mac holds the device a MAC-locked voucher is bound to.
CREATE TABLE vouchers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id     bigint NOT NULL REFERENCES voucher_batches (id),
    plan_id      bigint NOT NULL REFERENCES plans (id),
    code         text NOT NULL CHECK (code <> '' AND length(code) <= 64),
    username     text NOT NULL CHECK (username <> '' AND length(username) <= 64),
    password     bytea NOT NULL,
    state        text NOT NULL DEFAULT 'new'
                 CHECK (state IN ('new', 'sold', 'active', 'expired', 'exhausted', 'revoked')),
    sold_at      timestamptz,
    activated_at timestamptz,
    valid_until  timestamptz,
    mac          text CHECK (mac ~ '^([0-9A-F]{2}:){5}[0-9A-F]{2}$'),
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- An activated voucher has its activation time; a new or sold one has none.
    CHECK ((state IN ('new', 'sold')) = (activated_at IS NULL) OR state IN ('expired', 'revoked'))
);
CREATE UNIQUE INDEX vouchers_code ON vouchers (code);
CREATE UNIQUE INDEX vouchers_username ON vouchers (username);
CREATE INDEX vouchers_batch_id ON vouchers (batch_id, id);
-- The expiry job looks only at vouchers that can still be used.
CREATE INDEX vouchers_usable_valid_until ON vouchers (valid_until) WHERE state IN ('new', 'sold', 'active');
CREATE INDEX vouchers_active ON vouchers (plan_id) WHERE state = 'active';
