-- Pricing as data: the first status webhook carrying Meta's `pricing` object sets these once
-- (db.statuses.record_pricing); later statuses never change them (their pricing stays on the
-- timeline's details). `priced_at` says when: NULL until a status brought pricing.
-- Nullable without defaults, so adding them rewrites no row.
ALTER TABLE messages ADD COLUMN pricing_billable boolean;
ALTER TABLE messages ADD COLUMN pricing_model text;     -- PMP (CBP before July 2025)
ALTER TABLE messages ADD COLUMN pricing_type text;      -- regular, free_customer_service, free_entry_point
ALTER TABLE messages ADD COLUMN pricing_category text;  -- marketing, utility, authentication, service...
ALTER TABLE messages ADD COLUMN priced_at timestamptz;

-- Who sent it: the name of the API key the send came with (`billing:KEY`); a bare key is
-- `default`, and so were all messages stored before callers had names. A constant default
-- is stored in the catalog, not in every row: adding it rewrites nothing.
ALTER TABLE messages ADD COLUMN caller text NOT NULL DEFAULT 'default';

-- GET /api/v1/usage/ counts priced messages by created_at range: an index-only scan of this
-- partial index (only priced rows), with every column it groups and filters by included.
-- IF NOT EXISTS: on a large table, build it by hand first with CREATE INDEX CONCURRENTLY
-- (docs/operations.md, Retention, shows how), so the deploy does not hold writes meanwhile.
CREATE INDEX IF NOT EXISTS messages_priced_idx ON messages (created_at)
    INCLUDE (phone_number_id, caller, pricing_category, pricing_billable, recipient)
    WHERE priced_at IS NOT NULL;
