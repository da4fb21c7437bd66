-- The link from a sign-in identity to a member, stored only as
-- HMAC-SHA256(identity pepper, provider ‖ 0x00 ‖ subject): the table holds no OAuth subject,
-- and without the pepper it cannot be matched to one. Deleted on withdrawal.
CREATE TABLE identities
(
    identity   text PRIMARY KEY,
    member_id  uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX identities_by_member ON identities (member_id);

-- Which member wrote an item, sealed under a key only the command side holds, so that a
-- moderator can suspend "the author of this post" without ever learning who it is.
CREATE TABLE item_authors
(
    item_type  text NOT NULL,
    item_id    text NOT NULL,
    nonce      text NOT NULL,
    ciphertext text NOT NULL,
    PRIMARY KEY (item_type, item_id)
);
