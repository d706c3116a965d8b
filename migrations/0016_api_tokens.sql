-- API tokens for integrators (issue 10): `Authorization: Bearer tg_<lookup>_<secret>` on
-- /api/v1. The token is shown once when it is made; what is kept is its public lookup
-- part (to find the row without touching the secret) and an HMAC-SHA256 of the whole
-- token under a key derived from TOLLGATE_SECRET_KEY, compared in constant time. A
-- database dump therefore holds nothing that authenticates. A revoked token stays listed
-- (revoked_at) so the audit log's "token:<name>" keeps meaning something; its name can
-- be given to a new token.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    lookup       text NOT NULL UNIQUE CHECK (lookup ~ '^[a-z2-7]{16}$'),
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    scope        text NOT NULL CHECK (scope IN ('read', 'write')),
    created_by   text NOT NULL DEFAULT '' CHECK (length(created_by) <= 300),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
-- One live token per name: the audit log names tokens.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
