-- See 0010: a member's read mark carries no sequence of their member aggregate either; the
-- greatest `read_up_to` wins, so a redelivered `NotificationsRead` changes nothing.
ALTER TABLE notification_reads DROP COLUMN version;
