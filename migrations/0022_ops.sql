-- Operations (issue 10): the dashboard's history queries get their indexes, and
-- outgoing webhooks get their endpoints, their queue and its delivery log.

-- The dashboard's "sessions over 24 h" counts the sessions that overlap each hour: the
-- open ones (sessions_open) and those that stopped within the window, found here.
-- stopped_at is set once, by the Stop, so interim updates stay HOT.
CREATE INDEX sessions_stopped_at ON sessions (stopped_at) WHERE stopped_at IS NOT NULL;
-- The session history (the admin page, /api/v1/sessions) pages newest start first; a
-- session's start never changes, so this too costs nothing per interim.
CREATE INDEX sessions_started_at ON sessions (started_at);

-- Revenue by day reads the ledger by time; the ledger is append-only and `at` grows with
-- it, which is what a BRIN index wants.
CREATE INDEX ledger_entries_at ON ledger_entries USING brin (at);

-- Outgoing webhooks, signed per the Standard Webhooks specification. An endpoint is a
-- URL, the event types it wants, and its signing secret ("whsec_" + base64 of 24 random
-- bytes), shown once and sealed by the application bound to the row
-- (radius.SealWebhookSecret). Deleting an endpoint deletes its queue with it.
CREATE TABLE webhook_endpoints (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url         text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    events      text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 16
                    AND events <@ ARRAY['subscriber.isolated', 'subscriber.restored', 'payment.received',
                                        'session.start', 'session.stop']),
    secret      bytea NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_by  text NOT NULL DEFAULT '' CHECK (length(created_by) <= 300),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The queue: one message to one endpoint. msg_id is the webhook-id header, the same on
-- every retry of the message, so a receiver can drop what it has seen; the unique key
-- makes a message queued twice (two replicas, a replayed event) one delivery. The
-- payload is the exact body that is signed and sent.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    msg_id          text NOT NULL CHECK (msg_id ~ '^msg_[A-Za-z0-9_-]{1,64}$'),
    event_type      text NOT NULL CHECK (length(event_type) <= 64),
    payload         bytea NOT NULL CHECK (length(payload) <= 65536),
    created_at      timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '' CHECK (length(last_error) <= 500),
    delivered_at    timestamptz,
    CONSTRAINT webhook_deliveries_once UNIQUE (endpoint_id, msg_id),
    CONSTRAINT webhook_deliveries_delivered CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);
-- The sender's queue: what is due, by when.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE state = 'queued';
-- The delivery log, newest first, of all endpoints or one.
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every attempt with the receiver's answer: the delivery log's detail.
CREATE TABLE webhook_attempts (
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    at          timestamptz NOT NULL,
    status      integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '' CHECK (length(error) <= 500),
    duration_ms integer NOT NULL DEFAULT 0,
    PRIMARY KEY (delivery_id, attempt)
);

-- The webhooks' own reading of the billing_events outbox, beside the notification
-- dispatcher's processed_at (which it leaves alone). Event ids come from a sequence, so
-- a transaction that commits late can add an event below ids already read: a cursor
-- alone would skip it. So each event read is marked here, and the cursor (below which
-- every event is marked) moves only past events older than an hour, whose transactions
-- have long ended; the marks below it are then deleted.
CREATE TABLE webhook_outbox_cursor (
    consumer text PRIMARY KEY CHECK (consumer <> ''),
    below    bigint NOT NULL DEFAULT 0
);
INSERT INTO webhook_outbox_cursor (consumer) VALUES ('webhooks');

CREATE TABLE webhook_outbox_seen (
    event_id bigint PRIMARY KEY REFERENCES billing_events (id) ON DELETE CASCADE
);
