-- Posts can be deleted, and their content can be erased (content key destroyed): both keep
-- the row, without the texts, so a redelivered creation cannot bring them back.
ALTER TABLE board_posts
    ALTER COLUMN title DROP NOT NULL,
    ALTER COLUMN body DROP NOT NULL,
    ADD COLUMN state text NOT NULL DEFAULT 'published'
        CHECK (state IN ('published', 'deleted', 'erased'));

DROP INDEX board_posts_by_board_newest;
CREATE INDEX board_posts_by_board_newest ON board_posts (board, created_at DESC, id DESC)
    WHERE state = 'published';
