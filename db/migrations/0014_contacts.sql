-- Users without phone numbers (issue 22): an inbound message may name its sender only by
-- business-scoped user id (BSUID); existing rows keep their number and get no ids.
ALTER TABLE inbound_messages
    ALTER COLUMN sender DROP NOT NULL,                -- Meta's `from`, null when withheld
    ADD COLUMN sender_user_id        text,            -- Meta's `from_user_id`
    ADD COLUMN sender_parent_user_id text,            -- Meta's `from_parent_user_id`
    ADD COLUMN username              text;            -- contacts[].profile.username
CREATE INDEX inbound_messages_sender_user_id ON inbound_messages (sender_user_id)
    WHERE sender_user_id IS NOT NULL;

-- One person per business number, with every identifier Meta revealed for them: phone
-- number, BSUID, parent BSUID and username (a BSUID is scoped to the number's business
-- portfolio, so a person is never linked across numbers). The service window of a person
-- is the one of any of their identifiers (`service_windows.wa_id` holds a number or a
-- BSUID). Unique per number, checked at commit: one batch may move an id between rows.
CREATE TABLE contacts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_number_id text NOT NULL,
    phone           text,
    user_id         text,
    parent_user_id  text,
    username        text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_phone UNIQUE (phone_number_id, phone) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT contacts_user_id UNIQUE (phone_number_id, user_id) DEFERRABLE INITIALLY DEFERRED,
    CHECK (phone IS NOT NULL OR user_id IS NOT NULL OR parent_user_id IS NOT NULL)
);
CREATE INDEX contacts_parent_user_id ON contacts (phone_number_id, parent_user_id)
    WHERE parent_user_id IS NOT NULL;
