-- See 0020: with no stored offsets the member projector starts again at offset 0 and builds
-- `items` and `item_notifications` from the whole log; `notification_reads` stays (the
-- replayed `NotificationsRead` events only confirm it). To keep members' pages full
-- meanwhile, rebuild blue/green before the release (docs/operations.md;
-- docs/read-models/member.md, "Migration").
DELETE FROM projector_offsets;
