-- See 0012: notifications lose their insertion-ordered id and their time in the clear.
DROP TABLE notifications;
