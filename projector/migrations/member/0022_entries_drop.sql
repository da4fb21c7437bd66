-- See 0020: a member's entries, filed under their pseudonym, give way to `items`.
DROP TABLE entries;
