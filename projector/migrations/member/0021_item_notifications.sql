-- What happened to an item that its author did not do themselves, addressed to "the author
-- of this item" (ADR 0014): comments and answers on a post, replies to a comment, an accepted
-- answer, a decided claim. The query API reads the notifications of the signed-in member's
-- own items.
CREATE TABLE item_notifications
(
    -- `author_ref("member-item-notification", event id, item id)`: a redelivered event finds
    -- its notification there and adds nothing. The primary key (no insertion order).
    dedupe_key CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY,
    -- The item whose author it is for (`items.item_key`).
    item_key   CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    -- The sealed payload (JSON: kind, created_at, post, comment, claim, hospital, reason),
    -- padded to one length, under `AuthorKey::item_key()`, bound to `item_key` and
    -- `dedupe_key`.
    nonce      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    ciphertext TEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    KEY item_notifications_by_item (item_key)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
