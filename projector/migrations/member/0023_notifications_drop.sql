-- See 0020: a member's notifications, filed under their pseudonym, give way to
-- `item_notifications`.
DROP TABLE notifications;
