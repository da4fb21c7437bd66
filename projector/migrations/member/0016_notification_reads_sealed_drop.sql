-- See 0012: the read mark's time moves into a sealed payload.
DROP TABLE notification_reads;
