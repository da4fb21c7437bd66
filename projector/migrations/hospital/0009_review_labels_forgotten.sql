-- Every review projected so far came from `ReviewWritten` version 1, which carried the label
-- whatever the counts; readers saw it only while the hospital had K verified members, not K
-- with that label, and whether K shared the label when the review was written cannot be
-- known now. Such reviews read as unlabelled (as a replay of version 1 projects them:
-- `ward_domain::review::upcast_fields`), so their labels go, here as in the pages.
UPDATE reviews SET job_category = NULL, tenure = NULL;
