-- Records the projector could not understand, kept for an operator instead of blocking the
-- partition. An empty table is the normal state.
CREATE TABLE projector_rejects
(
    consumer_group VARCHAR(200) NOT NULL,
    topic          VARCHAR(255) NOT NULL,
    `partition`    INT          NOT NULL,
    `offset`       BIGINT       NOT NULL,
    reason         TEXT         NOT NULL,
    rejected_at    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (consumer_group, topic, `partition`, `offset`)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
