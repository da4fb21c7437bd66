-- The private member -> items index without an owner column (ADR 0012). Each entry sits at a
-- slot `HMAC(author key, "index-slot" ‖ n ‖ member)` for n = 0, 1, 2, …, so a member's
-- entries are found by computing their slots, and no two rows share a value: a copy of the
-- table (or a join of it with `item_authors` on xmin, ctid or insertion order) links an entry
-- to at most its own item, never two items to one member. No serial id, no time.
CREATE TABLE member_index
(
    slot       text PRIMARY KEY,
    nonce      text NOT NULL,
    ciphertext text NOT NULL
);

-- `member_items` (0007) rows are moved into slots by the command API when it starts (it needs
-- the author key: MemberItems::adopt_legacy), and the table stays empty from then on.
