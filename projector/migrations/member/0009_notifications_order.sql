-- See 0008: notifications within a minute by their keyed dedupe hash.
CREATE INDEX notifications_by_owner_key ON notifications (owner, created_at, dedupe_key);
