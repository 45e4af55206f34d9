-- Statuses for a wamid we do not know (yet): held while the sender's write may be late,
-- then kept as foreign (a message sent by another app on the same number, say).

CREATE TABLE held_statuses (
    id              bigserial PRIMARY KEY,
    wamid           text NOT NULL,
    status          text NOT NULL,
    phone_number_id text,
    raw             jsonb NOT NULL,          -- Meta's status object, as received
    received_at     timestamptz NOT NULL DEFAULT now(),
    hold_until      timestamptz NOT NULL,    -- matched again until then
    foreign_at      timestamptz,             -- set when the hold ran out unmatched
    UNIQUE (wamid, status)
);

CREATE INDEX held_statuses_waiting_idx ON held_statuses (id) WHERE foreign_at IS NULL;
CREATE INDEX held_statuses_foreign_idx ON held_statuses (foreign_at) WHERE foreign_at IS NOT NULL;
