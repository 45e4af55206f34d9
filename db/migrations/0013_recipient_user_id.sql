-- The recipient's business-scoped user id (BSUID, or parent BSUID): the one the caller named,
-- or the one Meta's send answer revealed. `recipient` keeps the message's key: the phone
-- digits, or the BSUID when the message was sent by BSUID alone. Nullable and without a
-- default, so adding it rewrites no row; existing messages are phone sends and keep NULL.
-- Not indexed: messages are found by id, wamid and callback data, never by the user id.
ALTER TABLE messages ADD COLUMN recipient_user_id text;
