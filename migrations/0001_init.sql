-- tollgate's first schema: routers (NAS), plans, subscribers, and the auth log.
-- Secrets that must be read back (NAS secrets, PPPoE passwords) are sealed by the
-- application (AES-256-GCM) before they reach this database: columns hold ciphertext.

CREATE TABLE nas (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    address     cidr NOT NULL,
    secret      bytea NOT NULL,
    coa_port    integer NOT NULL DEFAULT 3799 CHECK (coa_port BETWEEN 1 AND 65535),
    require_message_authenticator boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Two NASes must never claim overlapping source ranges: the source address alone picks the secret.
ALTER TABLE nas ADD CONSTRAINT nas_address_no_overlap EXCLUDE USING gist (address inet_ops WITH &&);

CREATE TABLE plans (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 64),
    kind                 text NOT NULL CHECK (kind IN ('pppoe', 'hotspot')),
    price_cents          bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    rate_limit           text NOT NULL DEFAULT '',
    validity_seconds     bigint NOT NULL DEFAULT 0 CHECK (validity_seconds >= 0),
    uptime_limit_seconds bigint NOT NULL DEFAULT 0 CHECK (uptime_limit_seconds >= 0),
    data_limit_bytes     bigint NOT NULL DEFAULT 0 CHECK (data_limit_bytes >= 0),
    shared_users         integer NOT NULL DEFAULT 1 CHECK (shared_users >= 0),
    interim_seconds      integer NOT NULL DEFAULT 300 CHECK (interim_seconds >= 0),
    pool                 text NOT NULL DEFAULT '',
    address_list         text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscribers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username    text NOT NULL UNIQUE CHECK (username <> '' AND length(username) <= 253),
    password    bytea NOT NULL,
    plan_id     bigint NOT NULL REFERENCES plans (id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'disabled')),
    static_ip   inet,
    mac         text UNIQUE CHECK (mac ~ '^([0-9A-F]{2}:){5}[0-9A-F]{2}$'),
    valid_from  timestamptz,
    valid_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscribers_plan_id ON subscribers (plan_id);

-- Every authorization decision, written in batches off the reply path. Monthly partitions
-- are dropped after the retention period; the default partition catches anything else.
CREATE TABLE auth_log (
    at       timestamptz NOT NULL,
    nas_id   bigint,
    username text NOT NULL,
    mac      text NOT NULL DEFAULT '',
    method   text NOT NULL,
    reason   text NOT NULL
) PARTITION BY RANGE (at);
CREATE TABLE auth_log_default PARTITION OF auth_log DEFAULT;
CREATE INDEX auth_log_username_at ON auth_log (username, at DESC);
CREATE INDEX auth_log_at ON auth_log (at DESC);

-- ensure_monthly_partitions creates the partitions of a table partitioned by month for the
-- months from this one to months_ahead after it; existing ones are left alone.
CREATE FUNCTION ensure_monthly_partitions(parent regclass, months_ahead integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', now())::date;
    name text;
BEGIN
    FOR i IN 0..months_ahead LOOP
        name := format('%s_%s', parent::text, to_char(m, 'YYYYMM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           name, parent, m, (m + interval '1 month')::date);
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;

SELECT ensure_monthly_partitions('auth_log', 2);
