-- A post's badge is decided once, when the post is written (PostCreated version 4,
-- docs/events.md): the event holds only what readers see, and so does this table. A badge
-- shows the hospital (badge_hospital_id), or only its region and kind (badge_sido,
-- badge_kind), or neither; the query service no longer counts claims to decide.
ALTER TABLE board_posts
    ADD COLUMN badge_sido text,
    ADD COLUMN badge_kind text;

-- The badges stored so far came from PostCreated version 3, which carried the hospital the
-- author chose whatever the counts, for readers to decide at read time: this column held
-- hospitals that readers did not see (a leaked copy showed them), and whether K members of the
-- author's job category shared one when the post was written cannot be known. They are read
-- conservatively, as a rebuild from the log reads them too: job category only.
UPDATE board_posts SET badge_hospital_id = NULL WHERE badge_hospital_id IS NOT NULL;
