-- ADR 0014: the member read model no longer knows who wrote anything. One row per post,
-- comment, review and claim, owned by nobody: the query API finds a signed-in member's items
-- in the write side's private member index (with the member id of the member's own session)
-- and fetches their rows here. In the clear only the row's keyed hash and its sealed payload;
-- the tables that filed rows under a member's pseudonym (`entries`, `notifications`,
-- `withdrawn_owners`) are dropped (0022-0024) and the model rebuilt from offset 0 (0025,
-- 0026). One statement per file: MySQL 8 runs migrations statement by statement.
CREATE TABLE items
(
    -- `author_ref("member-entry", item id, nil)`: found from an event's item id only with the
    -- author key. The primary key, so rows are stored and dumped in an order that says
    -- nothing about when they were written.
    item_key   CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY,
    -- The sealed payload (JSON: kind, state, created_at, updated_at, item id, post, board,
    -- hospital, job category, tenure, method, reason, a comment's thread handle and parent),
    -- padded to one length: XChaCha20-Poly1305 under `AuthorKey::item_key()`, which is
    -- derived from no member, bound to `item_key`.
    nonce      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    ciphertext TEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
