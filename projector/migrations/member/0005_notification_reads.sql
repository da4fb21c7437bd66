-- Up to when each member has seen their notifications (`NotificationsRead`).
CREATE TABLE notification_reads
(
    owner       CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY,
    -- UTC, rounded down to the minute: a notification is read while created_at <= read_up_to.
    read_up_to  DATETIME(6) NOT NULL,
    -- Sequence of the last member event applied.
    version     BIGINT      NOT NULL
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
