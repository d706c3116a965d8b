-- RouterOS API (issue 10): tollgate logs in to a router's API (TCP 8728, or 8729 with
-- TLS) to read its health, to compare its active lists with the open RADIUS sessions, and
-- to remove a session from the router when Disconnect/CoA cannot.

-- A NAS's API: address as host:port (normalized by the application), the API user, and
-- its password sealed by the application bound to the row (radius.SealNASAPIPassword).
-- tls uses api-ssl; tls_fingerprint pins the router's certificate (SHA-256 of its DER),
-- as RouterOS certificates are mostly self-signed. All or nothing: an address needs a
-- user and a password, and no address leaves neither.
ALTER TABLE nas
    ADD COLUMN api_address text NOT NULL DEFAULT '' CHECK (length(api_address) <= 261),
    ADD COLUMN api_user text NOT NULL DEFAULT '' CHECK (length(api_user) <= 64),
    ADD COLUMN api_password bytea,
    ADD COLUMN api_tls boolean NOT NULL DEFAULT false,
    ADD COLUMN api_tls_fingerprint bytea CHECK (length(api_tls_fingerprint) = 32),
    ADD CONSTRAINT nas_api_complete CHECK (
        CASE WHEN api_address = ''
            THEN api_user = '' AND api_password IS NULL AND NOT api_tls AND api_tls_fingerprint IS NULL
            ELSE api_user <> '' AND api_password IS NOT NULL AND (api_tls OR api_tls_fingerprint IS NULL)
        END);

-- coa_port 0: the router takes no Disconnect/CoA (no `/radius incoming`); sessions are
-- removed through its API instead.
ALTER TABLE nas DROP CONSTRAINT nas_coa_port_check,
    ADD CONSTRAINT nas_coa_port_check CHECK (coa_port BETWEEN 0 AND 65535);

-- A disconnect that went through the API: the entry was removed, the router had no such
-- session any more, or the API failed.
ALTER TABLE coa_log DROP CONSTRAINT coa_log_result_check,
    ADD CONSTRAINT coa_log_result_check
    CHECK (result IN ('ack', 'nak', 'timeout', 'error', 'api-removed', 'api-not-found', 'api-error'));

-- The heartbeats of each router with an API: one row per NAS, rewritten by every poll.
-- The health columns hold the last successful poll (its time is last_ok_at), polled_at
-- and error the last poll whatever its outcome, failures the polls missed in a row. down
-- flips after TOLLGATE_ROUTER_DOWN_AFTER missed polls and back on the next success; since
-- is when it last flipped.
CREATE TABLE router_health (
    nas_id       bigint PRIMARY KEY REFERENCES nas (id) ON DELETE CASCADE,
    polled_at    timestamptz NOT NULL,
    error        text NOT NULL DEFAULT '' CHECK (length(error) <= 500),
    failures     integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    down         boolean NOT NULL DEFAULT false,
    since        timestamptz,
    last_ok_at   timestamptz,
    version      text NOT NULL DEFAULT '' CHECK (length(version) <= 100),
    board_name   text NOT NULL DEFAULT '' CHECK (length(board_name) <= 100),
    uptime_seconds bigint NOT NULL DEFAULT 0 CHECK (uptime_seconds >= 0),
    cpu_load     integer NOT NULL DEFAULT 0 CHECK (cpu_load BETWEEN 0 AND 100),
    free_memory  bigint NOT NULL DEFAULT 0 CHECK (free_memory >= 0),
    total_memory bigint NOT NULL DEFAULT 0 CHECK (total_memory >= 0)
);

-- Each time a router went down or came back, once (the row is written in the transaction
-- that flips router_health.down): what admins are alerted of, and the dashboard's history.
CREATE TABLE router_events (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nas_id bigint NOT NULL REFERENCES nas (id) ON DELETE CASCADE,
    at     timestamptz NOT NULL,
    state  text NOT NULL CHECK (state IN ('down', 'up')),
    error  text NOT NULL DEFAULT '' CHECK (length(error) <= 500)
);
CREATE INDEX router_events_nas_at ON router_events (nas_id, at DESC);
