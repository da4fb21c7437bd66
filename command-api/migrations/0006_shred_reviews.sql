-- Reviews have content keys too (item type 'review', the review's id): deleting a review
-- destroys its key in the deleting transaction.
DROP TRIGGER events_shred_content ON events;
CREATE TRIGGER events_shred_content
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.event_type IN ('PostDeleted', 'CommentDeleted', 'ReviewDeleted'))
EXECUTE FUNCTION ward_shred_content();
