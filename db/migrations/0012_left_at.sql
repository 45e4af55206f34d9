-- A claim's mark (db/claims.py): set before its Meta call is made, in a statement guarded by
-- the claim; only an unmarked claim may be queued again by anyone but its holder. Not
-- indexed, so the mark is a HOT update (the sweeper finds `sending` rows by
-- messages_claimed_idx; there are few).
ALTER TABLE messages ADD COLUMN left_at timestamptz;

-- Calls in flight during the upgrade were marked in Redis, not here: each may have left.
UPDATE messages SET left_at = coalesce(sending_at, now()) WHERE status = 'sending';
