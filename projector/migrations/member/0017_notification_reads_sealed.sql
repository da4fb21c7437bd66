-- Up to when each member has seen their notifications (`NotificationsRead`).
CREATE TABLE notification_reads
(
    owner      CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY,
    -- The sealed mark (JSON: read_up_to, UTC, rounded down to the minute), padded, under the
    -- key `author_ref("member-read-mark", nil, nil)`, bound to the owner.
    nonce      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    ciphertext TEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
