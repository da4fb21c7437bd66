-- Affiliation claims, from `ward.affiliation.events`: only what counts a hospital's verified
-- members. No member reference: the claim id is a keyed hash that links to nobody.
CREATE TABLE claims
(
    id          CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    -- From the claim's latest `ClaimSubmitted`; the hospital may not be projected yet.
    hospital_id CHAR(36) CHARACTER SET ascii NOT NULL,
    -- `open`, `verified`, `rejected`, `expired` or `revoked`; only `verified` counts.
    state       VARCHAR(10)  NOT NULL,
    -- Sequence of the last event applied to this claim.
    version     BIGINT       NOT NULL,
    KEY claims_by_hospital (hospital_id, state)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
