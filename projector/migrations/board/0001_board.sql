-- The board read model: what the query API lists and shows. Rebuilt from `ward.post.events`.

CREATE TABLE board_posts
(
    id         uuid PRIMARY KEY,
    board      text        NOT NULL,
    title      text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL,
    -- Sequence of the last event applied to this post: an older or repeated event is skipped.
    version    bigint      NOT NULL
);

-- Newest first within a board, with the id breaking ties: the keyset the query API pages by.
CREATE INDEX board_posts_by_board_newest ON board_posts (board, created_at DESC, id DESC);

-- Kafka offsets of the projector, committed in the same transaction as the changes they
-- produced, so a crash can neither lose nor repeat an effect (docs/adr/0003).
CREATE TABLE projector_offsets
(
    consumer_group text   NOT NULL,
    topic          text   NOT NULL,
    partition      int    NOT NULL,
    -- The offset of the next record to read.
    next_offset    bigint NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Records the projector could not understand, kept for an operator instead of blocking the
-- partition. An empty table is the normal state.
CREATE TABLE projector_rejects
(
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      int         NOT NULL,
    "offset"       bigint      NOT NULL,
    reason         text        NOT NULL,
    rejected_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition, "offset")
);
