-- See 0012: with no stored offsets the member projector starts again at offset 0 and
-- rebuilds every member's rows. `withdrawn_owners` stays, so nothing of a withdrawn member
-- comes back. To keep members' pages full meanwhile, rebuild blue/green before the release
-- (docs/operations.md; docs/read-models/member.md, "Migration").
DELETE FROM projector_offsets;
