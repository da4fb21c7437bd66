-- A member's own rows carry no aggregate sequence: an entry's `version` equalled the
-- sequence of its item's last event, and joined with the public log's per-aggregate event
-- counts it told a reader of a dump which item each unnamed owner's row is. The redelivery
-- guard and `Ward-Min-Version` use `aggregate_versions` (keyed by a hash of the aggregate,
-- owned by nobody) only.
-- One statement per file: MySQL 8 runs migrations statement by statement.
ALTER TABLE entries DROP COLUMN version;
