-- A claim's mark (db/claims.py): set before its Meta call's first byte, in a statement
-- guarded by the claim; only an unmarked claim may be queued again by anyone but its holder.
ALTER TABLE messages ADD COLUMN left_at timestamptz;

-- Calls in flight during the upgrade were marked in Redis, not here: each may have left.
UPDATE messages SET left_at = coalesce(sending_at, now()) WHERE status = 'sending';

-- The sweeper judges marked claims by age (outcome_unknown).
CREATE INDEX messages_left_idx ON messages (left_at) WHERE status = 'sending';
