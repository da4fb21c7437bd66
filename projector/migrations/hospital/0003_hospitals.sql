-- The hospital catalogue, from `ward.hospital.events`. Texts use a case-insensitive Unicode
-- collation, so name search and ordering treat Latin letters alike in either case.
CREATE TABLE hospitals
(
    id               CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    name             VARCHAR(100) NOT NULL,
    -- `tertiary`, `general`, `hospital`, `nursing`, `clinic`, `dental`, `korean_medicine`, `other`.
    kind             VARCHAR(20)  NOT NULL,
    address          VARCHAR(200) NOT NULL,
    sido             VARCHAR(30)  NOT NULL,
    sigungu          VARCHAR(30)  NOT NULL,
    institution_code VARCHAR(200) NULL,
    -- Set by `HospitalClosed`: left out of search, profile and reviews stay readable.
    closed           BOOLEAN      NOT NULL DEFAULT FALSE,
    -- Sequence of the last event applied to this hospital: an older or repeated one is skipped.
    version          BIGINT       NOT NULL,
    -- Search pages in (name, id) order; region and kind filters narrow it down.
    KEY hospitals_by_name (name, id),
    KEY hospitals_by_region (sido, sigungu, kind)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
