-- How many members are verified at each hospital, per job category and tenure, kept in the
-- same transaction as the claim events that change it (a trigger on `events`), so that the
-- command side can fix a post's badge and a review's label when they are written, from the
-- counts then (k-anonymity per label; docs/privacy.md). Only `ClaimVerified` and
-- `ClaimRevoked` change it: a claim leaves `verified` only by revocation. The hospital's
-- region and kind are copied from its latest profile when a count changes, for the region
-- fallback. Counts only: no claim, no member.
CREATE TABLE verified_counts
(
    hospital_id  text    NOT NULL,
    job_category text    NOT NULL,
    tenure       text    NOT NULL,
    sido         text    NOT NULL DEFAULT '',
    kind         text    NOT NULL DEFAULT '',
    members      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (hospital_id, job_category, tenure)
);

CREATE INDEX verified_counts_by_region ON verified_counts (sido, kind, job_category);

CREATE FUNCTION ward_count_verified() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    claim   json;
    profile json;
BEGIN
    IF NEW.aggregate_type <> 'affiliation'
        OR NEW.event_type NOT IN ('ClaimVerified', 'ClaimRevoked') THEN
        RETURN NEW;
    END IF;
    SELECT e.payload -> 'ClaimSubmitted' INTO claim FROM events e
    WHERE e.aggregate_type = 'affiliation' AND e.aggregate_id = NEW.aggregate_id
      AND e.event_type = 'ClaimSubmitted' AND e.sequence < NEW.sequence
    ORDER BY e.sequence DESC LIMIT 1;
    SELECT h.payload -> h.event_type -> 'profile' INTO profile FROM events h
    WHERE h.aggregate_type = 'hospital' AND h.aggregate_id = claim ->> 'hospital_id'
      AND h.event_type IN ('HospitalRegistered', 'HospitalUpdated')
    ORDER BY h.sequence DESC LIMIT 1;
    INSERT INTO verified_counts AS c (hospital_id, job_category, tenure, sido, kind, members)
    VALUES (claim ->> 'hospital_id', claim ->> 'job_category', claim ->> 'tenure',
            coalesce(profile ->> 'sido', ''), coalesce(profile ->> 'kind', ''),
            CASE NEW.event_type WHEN 'ClaimVerified' THEN 1 ELSE -1 END)
    ON CONFLICT (hospital_id, job_category, tenure) DO UPDATE
        SET members = c.members + EXCLUDED.members, sido = EXCLUDED.sido, kind = EXCLUDED.kind;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_count_verified
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION ward_count_verified();

-- The counts of the claims verified so far.
WITH latest AS (
    SELECT DISTINCT ON (aggregate_id) aggregate_id, event_type
    FROM events WHERE aggregate_type = 'affiliation'
    ORDER BY aggregate_id, sequence DESC),
claims AS (
    SELECT DISTINCT ON (e.aggregate_id) e.payload -> 'ClaimSubmitted' AS claim
    FROM events e JOIN latest l ON l.aggregate_id = e.aggregate_id
    WHERE e.aggregate_type = 'affiliation' AND e.event_type = 'ClaimSubmitted'
      AND l.event_type = 'ClaimVerified'
    ORDER BY e.aggregate_id, e.sequence DESC),
profiles AS (
    SELECT DISTINCT ON (aggregate_id) aggregate_id AS id, payload -> event_type -> 'profile' AS profile
    FROM events WHERE aggregate_type = 'hospital'
      AND event_type IN ('HospitalRegistered', 'HospitalUpdated')
    ORDER BY aggregate_id, sequence DESC)
INSERT INTO verified_counts (hospital_id, job_category, tenure, sido, kind, members)
SELECT c.claim ->> 'hospital_id', c.claim ->> 'job_category', c.claim ->> 'tenure',
       coalesce(min(p.profile ->> 'sido'), ''), coalesce(min(p.profile ->> 'kind'), ''), count(*)
FROM claims c LEFT JOIN profiles p ON p.id = c.claim ->> 'hospital_id'
GROUP BY 1, 2, 3;
