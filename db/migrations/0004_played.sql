-- Voice notes: Meta reports `played` once the user listened, after `read`. It ranks above
-- `read` (a message never moves back from it) and below `failed`, which stays terminal.

CREATE OR REPLACE FUNCTION status_rank(status text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2
        WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 WHEN 'played' THEN 5 WHEN 'failed' THEN 6
        ELSE -1 END
$$;

ALTER TABLE messages ADD COLUMN played_at timestamptz;

ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'read', 'played', 'failed'));
