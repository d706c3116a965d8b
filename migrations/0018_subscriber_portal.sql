-- The subscriber's own portal (issue 9, first part): subscribers sign in with a portal
-- password, receive one-time links to set it, keep a history of their consents and
-- restrictions, accept the operator's privacy policy versions, and the staff reads of a
-- restricted subscriber ask for a reason.

-- A subscriber's portal sign-in is a portal_users row of role 'subscriber' that points
-- at its subscriber: it shares the argon2id hash, the failure counts, the lock, the
-- disabling and the session generation of staff accounts. Its email is NULL: a
-- subscriber signs in with the username or the email of the subscribers row, read
-- through the foreign key, so the address is kept in one place.
ALTER TABLE portal_users DROP CONSTRAINT portal_users_role_check;
ALTER TABLE portal_users ADD CONSTRAINT portal_users_role_check
    CHECK (role IN ('admin', 'reseller', 'subscriber'));
ALTER TABLE portal_users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE portal_users
    ADD COLUMN subscriber_id bigint UNIQUE REFERENCES subscribers (id) ON DELETE CASCADE;
ALTER TABLE portal_users ADD CONSTRAINT portal_users_subscriber
    CHECK ((role = 'subscriber') = (subscriber_id IS NOT NULL));
-- Staff sign in by email; a subscriber's row has none of its own.
ALTER TABLE portal_users ADD CONSTRAINT portal_users_staff_email
    CHECK ((role = 'subscriber') = (email IS NULL));

-- One-time links that set a subscriber's portal password: an admin's invitation (72
-- hours) or a "forgot password" request (1 hour). Only the SHA-256 of the random token
-- is kept; a link works once, and setting the password spends every other open link of
-- the subscriber too.
CREATE TABLE subscriber_links (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    purpose       text NOT NULL CHECK (purpose IN ('invite', 'reset')),
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL CHECK (expires_at > created_at),
    used_at       timestamptz
);
CREATE INDEX subscriber_links_open ON subscriber_links (subscriber_id) WHERE used_at IS NULL;

-- Restriction of processing (GDPR art. 18): while set, marketing and optional reminders
-- stop (billing.MayNotify) and every staff read of the subscriber names a reason.
ALTER TABLE subscribers ADD COLUMN restricted boolean NOT NULL DEFAULT false;

-- Every change of consent, as the subscriber (or staff on the subscriber's word) made
-- it: when, through what, and the values after the change.
CREATE TABLE consent_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id   bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    source          text NOT NULL CHECK (source IN ('web', 'api', 'admin', 'cli')),
    reminders_email boolean NOT NULL,
    reminders_sms   boolean NOT NULL,
    marketing       boolean NOT NULL
);
CREATE INDEX consent_history_subscriber ON consent_history (subscriber_id, id);

-- Every restriction and lift.
CREATE TABLE restriction_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    at            timestamptz NOT NULL,
    source        text NOT NULL CHECK (source IN ('web', 'api', 'admin', 'cli')),
    restricted    boolean NOT NULL
);
CREATE INDEX restriction_history_subscriber ON restriction_history (subscriber_id, id);

-- The operator's privacy policy, one row per published version (1, 2, …). A material
-- version takes effect at least 30 days after it is published (the rule is
-- billing.CheckPolicyVersion; the CHECK below is its floor); a minor one may take
-- effect at once.
CREATE TABLE policy_versions (
    version      integer PRIMARY KEY CHECK (version > 0),
    body         text NOT NULL CHECK (body <> '' AND length(body) <= 200000),
    published_at timestamptz NOT NULL,
    effective_at timestamptz NOT NULL,
    minor        boolean NOT NULL,
    CONSTRAINT policy_versions_notice
        CHECK (minor OR effective_at >= published_at + interval '29 days')
);

-- Who accepted which version, when, from where.
CREATE TABLE policy_acceptances (
    subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    version       integer NOT NULL REFERENCES policy_versions (version),
    at            timestamptz NOT NULL,
    ip            inet,
    PRIMARY KEY (subscriber_id, version)
);
