-- Several business numbers: each message goes from one of them. Messages stored before went
-- from the one number then configured; `python -m db.migrate` passes it as the setting
-- messaging.default_phone_number_id (the first id of WHATSAPP_PHONE_NUMBER_ID).
ALTER TABLE messages ADD COLUMN phone_number_id text;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM messages) THEN
        IF coalesce(current_setting('messaging.default_phone_number_id', true), '') = '' THEN
            RAISE EXCEPTION 'messages are stored: run python -m db.migrate with '
                'WHATSAPP_PHONE_NUMBER_ID set, so that they get the number they went from';
        END IF;
        UPDATE messages SET phone_number_id = current_setting('messaging.default_phone_number_id');
    END IF;
    -- The web still running the old code while a deploy rolls out stores no number: its
    -- messages go from the one number it knew.
    IF coalesce(current_setting('messaging.default_phone_number_id', true), '') <> '' THEN
        EXECUTE format('ALTER TABLE messages ALTER COLUMN phone_number_id SET DEFAULT %L',
                       current_setting('messaging.default_phone_number_id'));
    END IF;
END $$;
ALTER TABLE messages ALTER COLUMN phone_number_id SET NOT NULL;
