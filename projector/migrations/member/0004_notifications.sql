-- What happened to a member's items that the member did not do themselves: comments and
-- answers on their posts, replies to their comments, accepted answers, decided claims.
CREATE TABLE notifications
(
    -- Insertion order: newest first, and the tie-breaker between equal times.
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- The recipient's pseudonym.
    owner      CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    -- `author_ref("member-notification", event id, recipient)`: a redelivered event finds
    -- its notification there and adds nothing.
    dedupe_key CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    -- When it happened, UTC, rounded down to the minute.
    created_at DATETIME(6) NOT NULL,
    -- The sealed payload (JSON: kind, post, comment, claim, hospital, reason) under the
    -- recipient's `AuthorKey::index_key`, bound to the dedupe key.
    nonce      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    ciphertext TEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    UNIQUE KEY notifications_dedupe (dedupe_key),
    KEY notifications_by_owner (owner, created_at, id)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
