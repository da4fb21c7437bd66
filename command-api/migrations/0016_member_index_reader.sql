-- The query side's read-only role (infra/k8s: CloudNativePG's managed role
-- `ward_member_index_reader`, used by query-api-member and query-api-web) may read the member
-- index, to list a signed-in member's own items with the member id from the session (ADR
-- 0014). Nothing else: query pods face the internet. Where the role does not exist (local
-- machines, CI), this does nothing; create the role before migrating to have it granted.
DO
$$
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ward_member_index_reader') THEN
            GRANT SELECT ON member_index TO ward_member_index_reader;
        END IF;
    END
$$;
