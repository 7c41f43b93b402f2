-- Notify the relay only when it is waiting for a notification.
--
-- A transaction that sends NOTIFY takes a cluster-wide lock at commit and holds it until its
-- commit record is flushed, so notifying on every insert serialises every create's commit and
-- defeats group commit: it halved the creates Postgres could take. The relay says it is idle by
-- holding the advisory lock below (key 0x53484F52544F4944, `relay_idle_lock_key` in the relay). An
-- insert that can take it shared sees a busy relay: it sends nothing, and holds the shared lock
-- until it commits, so the relay cannot go idle before this row is visible to it. An insert that
-- cannot take it (the relay is idle, or about to be) sends the notification as before.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock_shared(6001133718491580740) THEN
        PERFORM pg_notify('outbox', '');
    END IF;
    RETURN NULL;
END;
$$;
