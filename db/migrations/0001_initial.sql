-- Outbound messages, their status timeline, inbound messages and the Hub event outbox.

-- A status update never moves a message backwards: it applies only when its rank is higher.
-- `failed` is terminal and outranks the rest; unknown statuses rank below everything.
CREATE FUNCTION status_rank(status text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2
        WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 WHEN 'failed' THEN 5
        ELSE -1 END
$$;

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    idempotency_key text UNIQUE,
    request_hash    text NOT NULL,          -- sha256 of the request body, for 409 on key reuse
    recipient       text NOT NULL,          -- digits only, E.164 without '+'
    type            text NOT NULL,
    payload         jsonb NOT NULL,         -- the Cloud API message object we POST to Meta
    metadata        jsonb,                  -- the Hub's, echoed on every event
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'read', 'failed')),
    wamid           text UNIQUE,
    error           jsonb,                  -- {code, title, message, details} when failed
    attempts        int NOT NULL DEFAULT 0, -- Meta calls made
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz NOT NULL DEFAULT now(),  -- last put on the outbound stream
    sending_at      timestamptz,
    sent_at         timestamptz,
    delivered_at    timestamptz,
    read_at         timestamptz,
    failed_at       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The sweeper looks for queued messages that were never picked up.
CREATE INDEX messages_queued_idx ON messages (published_at) WHERE status = 'queued';

CREATE TABLE message_statuses (
    message_id  uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    status      text NOT NULL,
    occurred_at timestamptz NOT NULL,        -- Meta's timestamp where Meta reported it
    source      text NOT NULL CHECK (source IN ('api', 'sender', 'meta')),
    details     jsonb,                       -- Meta's errors, pricing, conversation
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, status)         -- a duplicate webhook changes nothing
);

CREATE TABLE inbound_messages (
    wamid           text PRIMARY KEY,
    phone_number_id text,
    sender          text NOT NULL,           -- Meta's `from`
    profile_name    text,
    type            text NOT NULL,
    sent_at         timestamptz NOT NULL,    -- Meta's timestamp
    payload         jsonb NOT NULL,          -- Meta's message object, as received
    received_at     timestamptz NOT NULL DEFAULT now()
);

-- Outbox of events for the Hub: written in the same transaction as the change they
-- describe, then published to the hub stream. `id` is the Standard Webhooks `webhook-id`,
-- stable across retries so the Hub can de-duplicate.
CREATE TABLE hub_events (
    id               text PRIMARY KEY,
    type             text NOT NULL,
    message_id       uuid REFERENCES messages (id) ON DELETE CASCADE,
    payload          jsonb NOT NULL,         -- the envelope POSTed to the Hub
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         int NOT NULL DEFAULT 0,
    last_status_code int,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);

CREATE INDEX hub_events_pending_idx ON hub_events (published_at) WHERE status = 'pending';
CREATE INDEX hub_events_message_idx ON hub_events (message_id);
