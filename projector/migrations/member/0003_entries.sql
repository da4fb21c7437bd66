-- A member's own items: posts, comments and reviews (activity) and affiliation claims
-- (affiliations). Nothing in the clear names the member or the item (docs/adr/0006):
-- `owner` is the member's pseudonym, `entry_key` a keyed hash of the item id, and what the
-- item is (ids, board, hospital, job category, ...) is sealed under a key derived from the
-- member, bound to the row's entry key.
CREATE TABLE entries
(
    -- `author_ref("member-entry", item id, nil)`: found from an event's item id only with the
    -- author key.
    entry_key  CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY,
    -- Insertion order, which breaks ties between equal (minute-rounded) times.
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    -- The member's pseudonym (`AuthorKey::member_ref`, the member aggregate's id).
    owner      CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    -- `post`, `comment`, `review` or `claim`.
    kind       VARCHAR(10) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    -- Items: `published` or `deleted`. Claims: `open`, `verified`, `rejected`, `expired`,
    -- `revoked`.
    state      VARCHAR(10) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    -- Written (claims: last submitted), UTC, rounded down to the minute.
    created_at DATETIME(6) NOT NULL,
    -- Last changed, UTC, rounded down to the minute.
    updated_at DATETIME(6) NOT NULL,
    -- Sequence of the last event of the item's aggregate applied to this entry.
    version    BIGINT      NOT NULL,
    -- The sealed payload (JSON): XChaCha20-Poly1305 under `AuthorKey::index_key(member)`.
    nonce      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    ciphertext TEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    UNIQUE KEY entries_id (id),
    -- Activity and affiliations: one member's entries of a kind, newest first.
    KEY entries_by_owner (owner, kind, created_at, id)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
