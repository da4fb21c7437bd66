-- The board read model grows to what readers see: badges, counts, comments and replies,
-- accepted answers, the "hot" order, search, moderation state and the public moderation log.
-- Times are stored rounded down to the minute (ward_platform::time): no page, cursor or
-- leaked copy of this database can tell more precisely when someone wrote.
-- Every table remembers the sequence of the last event applied to its row (`version`), so a
-- redelivered or repeated event changes nothing.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The hot score (docs/read-models/board.md): log10(1 + likes + comments) plus the age term,
-- so each tenfold of engagement is worth 12.5 hours of freshness. It needs no
-- periodic recomputation: newer posts simply start higher. Epoch seconds do not depend on the
-- session's time zone, so the function is immutable.
CREATE FUNCTION board_hot(likes integer, comments integer, created timestamptz)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT log(1 + greatest(likes + comments, 0)) + extract(epoch FROM created) / 45000 $$;

ALTER TABLE board_posts
    -- The badge the author chose: job category, and a hospital shown only under k-anonymity.
    ADD COLUMN badge_job_category text,
    ADD COLUMN badge_hospital_id  uuid,
    ADD COLUMN like_count         integer NOT NULL DEFAULT 0,
    ADD COLUMN comment_count      integer NOT NULL DEFAULT 0,
    ADD COLUMN accepted_comment   uuid,
    -- False for walking-skeleton posts in plain text: they have no key for a sweep to miss.
    ADD COLUMN sealed             boolean NOT NULL DEFAULT true,
    ADD COLUMN hot                double precision
        GENERATED ALWAYS AS (board_hot(like_count, comment_count, created_at)) STORED;

CREATE INDEX board_posts_by_board_hot ON board_posts (board, hot DESC, id DESC)
    WHERE state = 'published';
CREATE INDEX board_posts_by_board_top ON board_posts (board, like_count DESC, created_at DESC, id DESC)
    WHERE state = 'published';
-- Substring search that works for Korean: trigrams of title and body (a 2-character query
-- still matches, by scanning the index rather than narrowing it).
CREATE INDEX board_posts_search ON board_posts
    USING gin ((coalesce(title, '') || ' ' || coalesce(body, '')) gin_trgm_ops)
    WHERE state = 'published';

CREATE TABLE board_comments
(
    id         uuid PRIMARY KEY,
    post_id    uuid        NOT NULL,
    -- The top-level comment this replies to (one level deep).
    parent_id  uuid,
    -- 0: the post's author (글쓴이); n: 익명n.
    handle     integer     NOT NULL,
    body       text,
    state      text        NOT NULL DEFAULT 'published'
        CHECK (state IN ('published', 'deleted', 'erased')),
    created_at timestamptz NOT NULL,
    -- The post's sequence when the comment was added: the thread's order, finer than the
    -- minute-rounded time without saying when.
    seq        bigint      NOT NULL
);

CREATE INDEX board_comments_by_post ON board_comments (post_id, seq);

-- Hospitals and verified claims, only to decide what a badge may show (k-anonymity).
CREATE TABLE board_hospitals
(
    id      uuid PRIMARY KEY,
    name    text   NOT NULL,
    kind    text   NOT NULL,
    sido    text   NOT NULL,
    version bigint NOT NULL
);

CREATE INDEX board_hospitals_by_group ON board_hospitals (sido, kind);

CREATE TABLE board_claims
(
    id          uuid PRIMARY KEY,
    hospital_id uuid    NOT NULL,
    verified    boolean NOT NULL,
    version     bigint  NOT NULL
);

CREATE INDEX board_claims_verified ON board_claims (hospital_id) WHERE verified;

-- Whether a post or comment is hidden by moderation. Its own table, because a moderation
-- event may be applied before the item it concerns (they travel on different topics).
CREATE TABLE board_moderation
(
    target_kind text    NOT NULL,
    target_id   uuid    NOT NULL,
    hidden      boolean NOT NULL,
    version     bigint  NOT NULL,
    PRIMARY KEY (target_kind, target_id)
);

-- The public moderation log: what was hidden or restored, why, and when (to the minute in
-- answers). It never names a moderator or a reporter; the events have neither.
CREATE TABLE board_moderation_log
(
    event_id    uuid PRIMARY KEY,
    -- The moderation aggregate's sequence: within a minute, one item's entries keep their
    -- order (pages go by minute, target and sequence, never by the time-ordered event id).
    seq         bigint      NOT NULL,
    target_kind text        NOT NULL,
    target_id   uuid        NOT NULL,
    action      text        NOT NULL CHECK (action IN ('hidden', 'restored')),
    cause       text,
    reason      text,
    note        text,
    occurred_at timestamptz NOT NULL
);

CREATE INDEX board_moderation_log_newest
    ON board_moderation_log (occurred_at DESC, target_id DESC, seq DESC);
