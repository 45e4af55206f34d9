-- The sweeper looks for stale queued messages number by number (each against how far its own
-- stream has been read): one number's long backlog is not scanned for every other number.
CREATE INDEX messages_queued_by_number_idx ON messages (phone_number_id, published_at)
    WHERE status = 'queued' AND next_attempt_at IS NULL;
