-- Deletions and erasures held back until the end of the current removal epoch
-- (`projector.removal_epoch_secs`), then applied together: a reader comparing pages sees a
-- withdrawn member's items go with every other deletion of the epoch, and looking the same.
CREATE TABLE board_removals
(
    kind text NOT NULL,
    id   uuid NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Erased items look deleted from now on: same state, and an erased comment is not counted.
UPDATE board_posts SET state = 'deleted' WHERE state = 'erased';
UPDATE board_posts p SET comment_count = p.comment_count - e.erased
FROM (SELECT post_id, count(*) AS erased FROM board_comments WHERE state = 'erased' GROUP BY post_id) e
WHERE p.id = e.post_id;
UPDATE board_comments SET state = 'deleted' WHERE state = 'erased';
