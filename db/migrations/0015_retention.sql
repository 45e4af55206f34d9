-- Retention (RETENTION_DAYS, db/retention.py): bodies and raw payloads older than the
-- setting are purged in small batches; each purge finds its rows from one of these indexes.
-- IF NOT EXISTS: on large tables, run these statements by hand first, each index with
-- CREATE INDEX CONCURRENTLY (docs/operations.md, Retention), so the deploy does not hold
-- writes while the indexes build.

-- A purged message keeps its row (the status API answers for it) without its body.
ALTER TABLE messages ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS purged_at timestamptz;
-- Past `sending` and not purged: a new message (queued) is not in it, so a send's INSERT
-- pays nothing for it; a message enters it once, when it is sent or fails.
CREATE INDEX IF NOT EXISTS messages_unpurged_idx ON messages (created_at)
    WHERE purged_at IS NULL AND status NOT IN ('queued', 'sending');

ALTER TABLE inbound_messages ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS purged_at timestamptz;
CREATE INDEX IF NOT EXISTS inbound_messages_unpurged_idx ON inbound_messages (received_at)
    WHERE purged_at IS NULL;

CREATE INDEX IF NOT EXISTS hub_events_delivered_idx ON hub_events (delivered_at)
    WHERE status = 'delivered';
CREATE INDEX IF NOT EXISTS webhook_changes_received_idx ON webhook_changes (received_at);
-- held_statuses: foreign ones are found by held_statuses_foreign_idx (0005).
