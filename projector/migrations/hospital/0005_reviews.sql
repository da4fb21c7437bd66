-- Hospital reviews, from `ward.review.events`, with their texts opened. No author reference:
-- job category and tenure are public labels the query API shows only above k-anonymity.
CREATE TABLE reviews
(
    id                CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    hospital_id       CHAR(36) CHARACTER SET ascii NOT NULL,
    -- `published`, `erased` (content key destroyed: texts gone, ratings still count) or
    -- `deleted` (nothing left but the row, which stops a redelivery from bringing it back).
    state             VARCHAR(10)      NOT NULL,
    -- Ratings 1-5; NULL once deleted.
    overall           TINYINT UNSIGNED NULL,
    work_environment  TINYINT UNSIGNED NULL,
    pay_benefits      TINYINT UNSIGNED NULL,
    management        TINYINT UNSIGNED NULL,
    care_quality      TINYINT UNSIGNED NULL,
    work_life_balance TINYINT UNSIGNED NULL,
    -- Texts; NULL once deleted or erased (advice also when none was given).
    title             VARCHAR(100)     NULL,
    pros              TEXT             NULL,
    cons              TEXT             NULL,
    advice            TEXT             NULL,
    would_recommend   BOOLEAN          NULL,
    job_category      VARCHAR(20)      NOT NULL,
    tenure            VARCHAR(10)      NOT NULL,
    -- Helpful marks of the current review; a review written anew starts at 0.
    helpful_count     BIGINT           NOT NULL DEFAULT 0,
    -- When it was written, UTC, rounded down to the minute.
    created_at        DATETIME(6)      NOT NULL,
    -- Sequence of the last event applied to this review.
    version           BIGINT           NOT NULL,
    -- The keysets of the two listing orders ("new" and "helpful").
    KEY reviews_newest (hospital_id, created_at, id),
    KEY reviews_helpful (hospital_id, helpful_count, created_at, id)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
