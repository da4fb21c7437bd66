-- Comments have content keys of their own (item_type 'comment'); deleting a comment destroys
-- its key in the deleting transaction, as deleting a post does for the post's key.
CREATE OR REPLACE FUNCTION ward_shred_content() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF NEW.event_type = 'CommentDeleted' THEN
        DELETE FROM content_keys
        WHERE item_type = 'comment' AND item_id = NEW.payload -> 'CommentDeleted' ->> 'comment_id';
    ELSE
        DELETE FROM content_keys WHERE item_type = NEW.aggregate_type AND item_id = NEW.aggregate_id;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER events_shred_content ON events;
CREATE TRIGGER events_shred_content
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.event_type IN ('PostDeleted', 'CommentDeleted'))
EXECUTE FUNCTION ward_shred_content();
