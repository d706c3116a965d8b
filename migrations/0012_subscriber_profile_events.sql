-- The money engine and the notifications (issue 8) meet here: subscribers gain a profile
-- (name, email, phone), whether they renew from their wallet, and which messages they
-- agreed to; billing writes what happened to a subscriber (renewed, reminded, isolated,
-- restored, paid) to an outbox in the same transaction as the change, and the
-- notification dispatcher turns each event into the emails and SMS the subscriber
-- consented to. An event is written at most once per key, so a retried or racing pass
-- never announces anything twice.

ALTER TABLE subscribers
    ADD COLUMN name         text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    -- Lower-cased and checked by the application (billing.NormalizeEmail).
    ADD COLUMN email        text CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    -- E.164: '+', the country code and the number, no spaces.
    ADD COLUMN phone        text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    ADD COLUMN auto_renew   boolean NOT NULL DEFAULT true,
    -- Consents, each changed by the subscriber (issue 9 records their history): service
    -- messages (reminders and account notices) by email and by SMS, and marketing.
    ADD COLUMN notify_email boolean NOT NULL DEFAULT true,
    ADD COLUMN notify_sms   boolean NOT NULL DEFAULT true,
    ADD COLUMN marketing    boolean NOT NULL DEFAULT false;

-- The outbox. kind names what happened; key makes each event happen once (e.g.
-- 'renewed:<subscription>:<period start>', 'reminder:<subscription>:<period end>:<days>');
-- data carries what the message needs, already formatted where it is money or time.
-- processed_at is set by the dispatcher once it has queued the event's messages.
CREATE TABLE billing_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    kind          text NOT NULL CHECK (kind ~ '^[a-z][a-z_.]{0,63}$'),
    subscriber_id bigint NOT NULL REFERENCES subscribers (id),
    key           text NOT NULL UNIQUE CHECK (key <> '' AND length(key) <= 200),
    data          jsonb NOT NULL DEFAULT '{}',
    processed_at  timestamptz
);
-- The dispatcher's queue: the events not processed yet, oldest first.
CREATE INDEX billing_events_pending ON billing_events (id) WHERE processed_at IS NULL;
CREATE INDEX billing_events_subscriber ON billing_events (subscriber_id, id);
