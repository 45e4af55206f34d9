-- Which worker claimed a message that is `sending`, so that after that worker dies the
-- messages it claimed but never started to send can be queued again (consumers/liveness.py).
ALTER TABLE messages ADD COLUMN claimed_by text;
CREATE INDEX messages_claimed_idx ON messages (claimed_by) WHERE status = 'sending';
