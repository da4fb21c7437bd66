-- Each event keeps its envelope's `event_id` and `occurred_at`, so that the store can publish
-- it again exactly as the relay did (`ward events republish`; ADR 0016).
--
-- Until now the outbox trigger made both up for the outbox row alone, and the row is deleted
-- once the broker has it: the Kafka log held the only copy, and read models depend on them
-- (the board's moderation log is keyed by `event_id`, the member model's notifications
-- dedupe on it, item times are `occurred_at` to the minute).
--
-- postgres-es names the columns it inserts, so these defaults fill both; the trigger copies
-- them into the outbox instead of making its own. Values as before: a UUIDv7 and the
-- transaction's start time.
--
-- Rows already stored cannot get their original values back from here: where the event still
-- waits in the outbox (not yet published), they get the outbox's, which the log will carry;
-- every other row gets a new UUIDv7 and this migration's time, and its original id and time
-- remain only in the log (docs/operations.md, "The Kafka log is lost or damaged").
--
-- Adding a column with a volatile default rewrites `events` once; commands wait meanwhile.
ALTER TABLE events
    ADD COLUMN event_id    uuid        NOT NULL DEFAULT ward_uuid_v7(),
    ADD COLUMN occurred_at timestamptz NOT NULL DEFAULT now();

UPDATE events e
SET event_id    = o.event_id,
    occurred_at = o.occurred_at
FROM outbox o
WHERE o.aggregate_type = e.aggregate_type
  AND o.aggregate_id = e.aggregate_id
  AND o.sequence = e.sequence;

-- The event's fields as the envelope carries them: postgres-es stores an event as
-- {"EventType": {fields}}. One definition for the trigger and for `ward events republish`.
CREATE FUNCTION ward_event_fields(payload json, event_type text) RETURNS json
    LANGUAGE sql IMMUTABLE AS
$$
SELECT COALESCE(payload -> event_type, payload)
$$;

CREATE OR REPLACE FUNCTION ward_outbox_capture() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    INSERT INTO outbox (event_id, aggregate_type, aggregate_id, sequence, event_type,
                        event_version, payload, metadata, occurred_at)
    VALUES (NEW.event_id, NEW.aggregate_type, NEW.aggregate_id, NEW.sequence, NEW.event_type,
            NEW.event_version, ward_event_fields(NEW.payload, NEW.event_type), NEW.metadata,
            NEW.occurred_at);
    -- Wakes the relay; notifications are delivered at commit, once per transaction.
    PERFORM pg_notify('ward_outbox', '');
    RETURN NULL;
END
$$;

-- Where `ward events republish` stands (ward/src/republish.rs): its options and the key of
-- the last event the broker acknowledged, so an interrupted run resumes after it. At most one
-- row. It names one event's key, which `events` holds anyway, and the operator's times.
CREATE TABLE republish_progress
(
    single          boolean PRIMARY KEY DEFAULT true CHECK (single),
    -- The run's options: events at or after `since` (all when null) of these aggregate types
    -- (all when empty, else sorted).
    since           timestamptz,
    aggregate_types text[]      NOT NULL,
    -- The primary key of the last event published; ('', '', -1) before the first.
    after_type      text        NOT NULL DEFAULT '',
    after_id        text        NOT NULL DEFAULT '',
    after_sequence  bigint      NOT NULL DEFAULT -1,
    published       bigint      NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
