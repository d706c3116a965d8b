-- Notifications (issue 8): the dispatcher turns each billing event into one message per
-- channel its subscriber consented to and tollgate can send on, rendered at queue time,
-- and queues it here; the sender delivers due messages with bounded retries and writes
-- every attempt to notification_log, which admins read.

-- The delivery queue. A message of an event goes to the event's subscriber; an admin
-- alert (kind 'admin_alert': a router down, say) has neither event nor subscriber and
-- goes by email to one portal admin a row. recipient is the address or number as it was
-- when the message was queued, so a later change of the profile changes no queued text.
CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    event_id        bigint REFERENCES billing_events (id),
    subscriber_id   bigint REFERENCES subscribers (id),
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z_.]{0,63}$'),
    channel         text NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient       text NOT NULL CHECK (recipient <> '' AND length(recipient) <= 254),
    subject         text NOT NULL DEFAULT '' CHECK (length(subject) <= 998),
    body            text NOT NULL CHECK (length(body) <= 100000),
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
    -- Attempts made so far; the sender gives up after the last of its retry delays.
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    sent_at         timestamptz,
    last_error      text NOT NULL DEFAULT '',
    -- Two dispatchers (two replicas) never queue an event's message twice: besides the
    -- outbox's row locks, this constraint refuses the second copy.
    CONSTRAINT notifications_event_channel UNIQUE (event_id, channel),
    CONSTRAINT notifications_audience CHECK (
        (event_id IS NOT NULL AND subscriber_id IS NOT NULL AND kind <> 'admin_alert')
        OR (event_id IS NULL AND subscriber_id IS NULL AND kind = 'admin_alert' AND channel = 'email')),
    CONSTRAINT notifications_sent CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
-- The sender's queue: the messages still to send, by when they are due.
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX notifications_subscriber ON notifications (subscriber_id, id) WHERE subscriber_id IS NOT NULL;
CREATE INDEX notifications_state ON notifications (state, id);

-- Every delivery attempt, successful or not, with the provider's message id when it gave
-- one. Monthly partitions, like auth_log, so the retention job drops old months whole;
-- no foreign key to notifications, so neither blocks the other's clean-up.
CREATE TABLE notification_log (
    at              timestamptz NOT NULL,
    notification_id bigint NOT NULL,
    attempt         integer NOT NULL CHECK (attempt >= 1),
    channel         text NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient       text NOT NULL,
    result          text NOT NULL CHECK (result IN ('ok', 'error')),
    error           text NOT NULL DEFAULT '',
    provider_id     text NOT NULL DEFAULT ''
) PARTITION BY RANGE (at);
CREATE TABLE notification_log_default PARTITION OF notification_log DEFAULT;
CREATE INDEX notification_log_at ON notification_log (at DESC);
CREATE INDEX notification_log_notification ON notification_log (notification_id, at);

SELECT ensure_monthly_partitions('notification_log', 2);
