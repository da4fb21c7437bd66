-- Review deletions and erasures held back until the end of the current removal epoch
-- (`projector.removal_epoch_secs`), then applied together, as of the review's version then
-- (a review written anew after that stays).
CREATE TABLE review_removals
(
    id      VARCHAR(36) NOT NULL PRIMARY KEY,
    version BIGINT      NOT NULL
);

-- Erased reviews look deleted from now on: no texts, no ratings, not counted.
UPDATE reviews SET state = 'deleted', overall = NULL, work_environment = NULL,
    pay_benefits = NULL, management = NULL, care_quality = NULL, work_life_balance = NULL,
    title = NULL, pros = NULL, cons = NULL, advice = NULL, would_recommend = NULL,
    helpful_count = 0
WHERE state = 'erased';
