-- Portal sign-ins for admins and resellers, and the audit log every admin action writes.
-- Passwords are argon2id PHC strings; the TOTP secret must be read back to check codes,
-- so it is sealed by the application (AES-256-GCM) like the NAS secrets.

CREATE TABLE portal_users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored lower-cased: the unique index then makes "A@x" and "a@x" one account.
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role          text NOT NULL CHECK (role IN ('admin', 'reseller')),
    reseller_name text CHECK (reseller_name <> '' AND length(reseller_name) <= 64),
    totp_secret   bytea,
    totp_required boolean NOT NULL DEFAULT false,
    -- Consecutive failed sign-ins since the last success; the fifth locks the account.
    failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- A reseller sells under a name; an admin has none.
    CONSTRAINT portal_users_reseller_name CHECK ((role = 'reseller') = (reseller_name IS NOT NULL))
);

-- Append-only: who did what to what, from where. actor is the portal user's email, the
-- attempted email for a failed sign-in, or "cli:<user>" for the command line.
CREATE TABLE audit_log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text NOT NULL,
    action text NOT NULL,
    target text NOT NULL DEFAULT '',
    detail jsonb NOT NULL DEFAULT '{}',
    ip     inet
);
CREATE INDEX audit_log_at ON audit_log USING brin (at);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at DESC);
