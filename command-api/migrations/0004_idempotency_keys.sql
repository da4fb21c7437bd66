-- Idempotency-Key support for create requests. The key is stored only as
-- SHA-256(member id ‖ key), so the table names no member.
CREATE TABLE idempotency_keys
(
    id           text PRIMARY KEY,
    -- SHA-256 of the request body: the same key with another body is refused.
    request_hash text        NOT NULL,
    -- The id the created resource gets, fixed at the first attempt so a retry after a crash
    -- addresses the same aggregate.
    resource_id  uuid        NOT NULL,
    -- The answer, once there is one: {"status", "body", "location"}.
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
