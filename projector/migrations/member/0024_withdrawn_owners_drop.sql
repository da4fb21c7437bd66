-- See 0020: nothing is filed under a member any more, so nothing has to keep a withdrawn
-- member's rows from coming back. (A withdrawal deletes the member index that leads to their
-- items, and their read mark here.)
DROP TABLE withdrawn_owners;
