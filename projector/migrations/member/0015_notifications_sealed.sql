-- What happened to a member's items that the member did not do themselves: comments and
-- answers on their posts, replies to their comments, accepted answers, decided claims.
CREATE TABLE notifications
(
    -- `author_ref("member-notification", event id, recipient)`: a redelivered event finds
    -- its notification there and adds nothing. The primary key (no insertion order).
    dedupe_key CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY,
    -- The recipient's pseudonym.
    owner      CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    -- The sealed payload (JSON: kind, created_at, post, comment, claim, hospital, reason),
    -- padded to one length, under the recipient's `AuthorKey::index_key`, bound to the
    -- dedupe key.
    nonce      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    ciphertext TEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    KEY notifications_by_owner (owner)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
