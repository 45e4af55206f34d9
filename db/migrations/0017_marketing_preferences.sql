-- A contact's marketing preference per business number: Meta's user_preferences webhook,
-- the `user_preference_changed` system message, or a 131050 failure (db/marketing_preferences.py).
-- `contact` is the user as Meta names them: the wa_id (phone digits) or the business-scoped
-- user id; a user Meta names both ways has a row for each. The latest by Meta's time wins.
CREATE TABLE marketing_preferences (
    phone_number_id text        NOT NULL,
    contact         text        NOT NULL,
    value           text        NOT NULL CHECK (value IN ('stop', 'resume')),
    changed_at      timestamptz NOT NULL,
    source          text        NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (phone_number_id, contact)
);
-- The template's category (MARKETING, UTILITY, AUTHENTICATION) when the catalog knew it at
-- accept: the sender picks Meta's endpoint from it without the catalog. Nullable without a
-- default, so adding it rewrites no row.
ALTER TABLE messages ADD COLUMN template_category text;
