-- Owners who withdrew (`MemberWithdrew`). A row for them is never written again, even by a
-- projector replica that looked the item's author up just before the withdrawal: writers read
-- this table with a shared lock, which orders them against the withdrawal's insert here
-- (InnoDB's default REPEATABLE READ takes the gap lock this needs).
-- Holds only pseudonyms, which the member topic keeps anyway.
CREATE TABLE withdrawn_owners
(
    owner CHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL PRIMARY KEY
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
