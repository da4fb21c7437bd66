-- The private member -> items index, kept only so that a member's withdrawal can destroy the
-- content keys of everything they wrote (docs/privacy.md). Rows name neither the member nor
-- the item in the clear: `owner` is a keyed hash of the member, `item` the item's type and id
-- sealed with a key derived from the member. Deleted with the withdrawal.
CREATE TABLE member_items
(
    id         bigserial PRIMARY KEY,
    owner      text NOT NULL,
    nonce      text NOT NULL,
    ciphertext text NOT NULL
);

CREATE INDEX member_items_by_owner ON member_items (owner);
