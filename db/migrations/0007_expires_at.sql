-- Validity periods: a message not written to Meta by `expires_at` fails with code `expired`
-- and is never sent (the claim skips it).
ALTER TABLE messages ADD COLUMN expires_at timestamptz;
CREATE INDEX messages_expiring_idx ON messages (expires_at)
    WHERE status = 'queued' AND expires_at IS NOT NULL;
