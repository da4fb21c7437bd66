-- The projectors' read-only role (infra/k8s: CloudNativePG's managed role `ward_projector`)
-- may read the content keys, to open sealed texts, and the sealed item -> author table, for
-- the member projection. Nothing else. Where the role does not exist (local machines, CI),
-- this does nothing; create the role before migrating to have it granted.
DO
$$
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ward_projector') THEN
            GRANT SELECT ON content_keys, item_authors TO ward_projector;
        END IF;
    END
$$;
