-- Pages order items within a minute by their keyed hashes rather than by arrival (the
-- AUTO_INCREMENT id), so that a read model rebuilt from offset 0 answers exactly as the live
-- one did.
CREATE INDEX entries_by_owner_key ON entries (owner, kind, created_at, entry_key);
