-- Per-item content keys (docs/privacy.md). Events carry texts sealed with these keys; the
-- keys never leave the write side except to projectors, which read them to build read models.
CREATE TABLE content_keys
(
    item_type  text        NOT NULL,
    item_id    text        NOT NULL,
    key        bytea       NOT NULL CHECK (length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_type, item_id)
);

-- Crypto-shredding: the event that deletes an item destroys its key in the same transaction,
-- so no replay of the log can show the content again, even if the process dies right after.
CREATE FUNCTION ward_shred_content() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    DELETE FROM content_keys WHERE item_type = NEW.aggregate_type AND item_id = NEW.aggregate_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_shred_content
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.event_type IN ('PostDeleted'))
EXECUTE FUNCTION ward_shred_content();
