-- A member's rows keep nothing in the clear that a public copy (the board, the log) could be
-- matched against: kinds, states and times move into the sealed payload, and no column
-- counts insertions (docs/adr/0006, "Revised"). Converting the old rows would need the author
-- key, which a migration does not hold: the tables are recreated empty and the projection
-- rebuilds them from offset 0 (0018, 0019). One statement per file: MySQL 8 runs migrations
-- statement by statement.
DROP TABLE entries;
