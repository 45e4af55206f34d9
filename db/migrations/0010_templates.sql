-- Meta's template catalog per WhatsApp Business Account, replaced whole by each full sync
-- (consumers/templates.py). `definition` is Meta's template object as listed.
CREATE TABLE templates (
    waba_id    text  NOT NULL,
    name       text  NOT NULL,
    language   text  NOT NULL,
    status     text  NOT NULL,
    category   text,
    definition jsonb NOT NULL,
    PRIMARY KEY (waba_id, name, language)
);

-- When each catalog was last replaced (no row: never synced). `synced_at` is when that
-- sync started reading Meta, so an older sync that finishes late never overwrites a newer one.
CREATE TABLE template_syncs (
    waba_id   text        PRIMARY KEY,
    synced_at timestamptz NOT NULL,
    templates integer     NOT NULL
);
