-- Retries never block a consumer: a message or Hub event waiting for its next attempt is
-- parked (`next_attempt_at` set) and the scheduler puts it back on its stream when due.

ALTER TABLE messages ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE messages ADD COLUMN last_error jsonb;  -- the latest retryable error, while retrying

CREATE INDEX messages_parked_idx ON messages (next_attempt_at)
    WHERE status = 'queued' AND next_attempt_at IS NOT NULL;

ALTER TABLE hub_events ADD COLUMN next_attempt_at timestamptz;

CREATE INDEX hub_events_parked_idx ON hub_events (next_attempt_at)
    WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
CREATE INDEX hub_events_dead_idx ON hub_events (created_at) WHERE status = 'dead';

-- Every POST to the Hub, for operators and the status of one event.
CREATE TABLE hub_event_attempts (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL REFERENCES hub_events (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL,
    status_code  int,                      -- null when no HTTP answer came
    latency_ms   int NOT NULL,
    error        text
);

CREATE INDEX hub_event_attempts_event_idx ON hub_event_attempts (event_id);
