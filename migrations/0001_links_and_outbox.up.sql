-- Links as the master knows them. A code is never reused: deleted links keep their row.
CREATE TABLE links (
    code        text PRIMARY KEY,
    url         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    deleted_at  timestamptz,
    -- Grows with every change of the link; carried by its events so consumers apply them idempotently.
    revision    bigint NOT NULL DEFAULT 1
);

-- The transactional outbox: written in the same transaction as the change it announces,
-- relayed to Kafka in id order and marked published only after the broker acknowledged it.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    topic         text NOT NULL,
    message_key   text NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

-- The relay only ever reads the pending rows, oldest first.
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- Wakes the relay at commit time; the relay still polls slowly in case a notification is missed.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
