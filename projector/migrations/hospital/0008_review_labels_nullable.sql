-- A review's author label (job category and tenure) is decided when the review is written,
-- per label: `ReviewWritten` version 2 carries it only when at least K members with that
-- category and tenure were verified at the hospital then (docs/privacy.md). A review without
-- a label stores none, so a copy of this database shows no label readers never see.
ALTER TABLE reviews MODIFY job_category VARCHAR(20) NULL, MODIFY tenure VARCHAR(10) NULL;
