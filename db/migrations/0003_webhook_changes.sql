-- Webhook changes that are neither statuses nor messages (template status and quality
-- updates, account and phone number updates, any field Meta adds), plus the items we could
-- not read, stored once each before their Hub event is queued.
CREATE TABLE webhook_changes (
    id          text PRIMARY KEY,            -- the Hub event id, derived from the content
    field       text NOT NULL,               -- Meta's `field`, or invalid_* for unreadable items
    entry_id    text,                        -- the WhatsApp Business Account id of the entry
    entry_time  timestamptz,                 -- the entry's `time`, when Meta sent one
    value       jsonb NOT NULL,              -- Meta's `value`, as received
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_changes_field_idx ON webhook_changes (field, received_at);
