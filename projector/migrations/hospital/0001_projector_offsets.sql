-- Kafka offsets of the hospital projector, committed in the same transaction as the changes
-- they produced, so a crash can neither lose nor repeat an effect (docs/adr/0003).
-- One statement per file: MySQL 8 runs migrations statement by statement.
CREATE TABLE projector_offsets
(
    consumer_group VARCHAR(200) NOT NULL,
    topic          VARCHAR(255) NOT NULL,
    `partition`    INT          NOT NULL,
    -- The offset of the next record to read.
    next_offset    BIGINT       NOT NULL,
    PRIMARY KEY (consumer_group, topic, `partition`)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
