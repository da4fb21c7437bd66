-- How far the projector got in each post, review and claim aggregate: events at or below the
-- version are skipped (a redelivery changes nothing), and `Ward-Min-Version` waits on it,
-- also for a member whose own entry is not in that aggregate (a comment on someone's post).
-- No owner: a row names no member, and its key is a keyed hash of the aggregate id.
CREATE TABLE aggregate_versions
(
    -- `author_ref("member-aggregate", aggregate id, nil)`.
    aggregate_key CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY,
    version       BIGINT   NOT NULL
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
