-- Whether a moderated item is hidden, from `ward.moderation.events`; joined at query time, so
-- a hide applied before its review arrives (another topic) still takes effect.
CREATE TABLE moderation_state
(
    -- `review` (the only kind this read model shows).
    target_kind VARCHAR(10) CHARACTER SET ascii NOT NULL,
    target_id   CHAR(36)    CHARACTER SET ascii NOT NULL,
    hidden      BOOLEAN     NOT NULL,
    -- Sequence of the last event applied to this item's moderation aggregate.
    version     BIGINT      NOT NULL,
    PRIMARY KEY (target_kind, target_id)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
