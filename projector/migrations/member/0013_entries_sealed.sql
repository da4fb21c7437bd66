-- A member's own items: posts, comments and reviews (activity) and affiliation claims
-- (affiliations). In the clear only whose row it is, its keyed hash and its sealed payload;
-- the query API opens all of a member's rows and orders them in memory.
CREATE TABLE entries
(
    -- `author_ref("member-entry", item id, nil)`: found from an event's item id only with the
    -- author key. The primary key, so rows are stored and dumped in an order that says
    -- nothing about when they were written.
    entry_key  CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY,
    -- The member's pseudonym (`AuthorKey::member_ref`, the member aggregate's id).
    owner      CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    -- The sealed payload (JSON: kind, state, created_at, updated_at, item id, post, board,
    -- hospital, job category, tenure, method, reason), padded to one length:
    -- XChaCha20-Poly1305 under `AuthorKey::index_key(member)`, bound to `entry_key`.
    nonce      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    ciphertext TEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    KEY entries_by_owner (owner)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
