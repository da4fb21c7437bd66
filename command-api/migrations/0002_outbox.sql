-- The transactional outbox (docs/adr/0001-transactional-outbox.md).
--
-- A trigger copies every row inserted into `events` into `outbox` inside the same
-- transaction, so an event is committed if and only if it is queued for Kafka. The relay
-- publishes rows in `id` order and deletes them once the broker has acknowledged them.

CREATE TABLE outbox
(
    id             bigserial PRIMARY KEY,
    event_id       uuid        NOT NULL UNIQUE,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        json        NOT NULL,
    metadata       json        NOT NULL,
    occurred_at    timestamptz NOT NULL
);

-- A version 7 UUID: 48 bits of Unix milliseconds, then random bits.
CREATE FUNCTION ward_uuid_v7() RETURNS uuid
    LANGUAGE sql VOLATILE AS
$$
SELECT encode(
    set_bit(set_bit(
        overlay(uuid_send(gen_random_uuid())
                PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6),
        52, 1), 53, 1),
    'hex')::uuid
$$;

CREATE FUNCTION ward_outbox_capture() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    -- postgres-es stores an event as {"EventType": {fields}}; the envelope carries the fields.
    INSERT INTO outbox (event_id, aggregate_type, aggregate_id, sequence, event_type,
                        event_version, payload, metadata, occurred_at)
    VALUES (ward_uuid_v7(), NEW.aggregate_type, NEW.aggregate_id, NEW.sequence, NEW.event_type,
            NEW.event_version, COALESCE(NEW.payload -> NEW.event_type, NEW.payload),
            NEW.metadata, now());
    -- Wakes the relay; notifications are delivered at commit, once per transaction.
    PERFORM pg_notify('ward_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_to_outbox
    AFTER INSERT ON events
    FOR EACH ROW
EXECUTE FUNCTION ward_outbox_capture();
