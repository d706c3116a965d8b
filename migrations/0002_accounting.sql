-- Accounting: one row per session, keyed on (NAS, Acct-Session-Id) because the id repeats
-- across routers, in monthly partitions by start time. A partitioned table's unique key
-- must hold the partition key, so session_keys pins each session's start time the first
-- time it is seen; every later packet of the session finds the same row through it.

CREATE TABLE session_keys (
    nas_id          bigint NOT NULL,
    acct_session_id text NOT NULL,
    started_at      timestamptz NOT NULL,
    PRIMARY KEY (nas_id, acct_session_id)
);
CREATE INDEX session_keys_started_at ON session_keys (started_at);

CREATE TABLE sessions (
    nas_id            bigint NOT NULL,
    acct_session_id   text NOT NULL,
    started_at        timestamptz NOT NULL,
    username          text NOT NULL,
    mac               text NOT NULL DEFAULT '',
    framed_ip         inet,
    called_station_id text NOT NULL DEFAULT '',
    nas_port_id       text NOT NULL DEFAULT '',
    class             text NOT NULL DEFAULT '',
    last_update       timestamptz NOT NULL,
    stopped_at        timestamptz,
    session_time      bigint NOT NULL DEFAULT 0 CHECK (session_time >= 0),
    input_octets      bigint NOT NULL DEFAULT 0 CHECK (input_octets >= 0),
    output_octets     bigint NOT NULL DEFAULT 0 CHECK (output_octets >= 0),
    input_packets     bigint NOT NULL DEFAULT 0,
    output_packets    bigint NOT NULL DEFAULT 0,
    interim_seconds   integer NOT NULL DEFAULT 0,
    terminate_cause   text NOT NULL DEFAULT '',
    PRIMARY KEY (nas_id, acct_session_id, started_at)
) PARTITION BY RANGE (started_at);
CREATE TABLE sessions_default PARTITION OF sessions DEFAULT;
-- The portal's queries: an account's sessions by time, a NAS's sessions, the open ones.
CREATE INDEX sessions_username_started ON sessions (username, started_at DESC);
CREATE INDEX sessions_nas_started ON sessions (nas_id, started_at DESC);
CREATE INDEX sessions_open ON sessions (last_update) WHERE stopped_at IS NULL;
SELECT ensure_monthly_partitions('sessions', 2);

-- Every Disconnect-Request and CoA-Request sent, with the NAS's answer.
CREATE TABLE coa_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    nas_id          bigint NOT NULL,
    acct_session_id text NOT NULL,
    username        text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('disconnect', 'coa')),
    result          text NOT NULL CHECK (result IN ('ack', 'nak', 'timeout', 'error')),
    error_cause     integer,
    reason          text NOT NULL DEFAULT ''
);
CREATE INDEX coa_log_username_at ON coa_log (username, at DESC);

-- One row per job and scheduled time: with several `tollgate serve` on one database, the
-- replica that inserts it runs the job, the others skip.
CREATE TABLE cron_runs (
    job          text NOT NULL,
    scheduled_at timestamptz NOT NULL,
    node         text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    error        text NOT NULL DEFAULT '',
    PRIMARY KEY (job, scheduled_at)
);
