-- Scoped API keys: every key has a role, and may expire. Keys made before roles existed keep
-- the rights they had: admin.
ALTER TABLE api_keys
    ADD COLUMN role text NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'editor', 'viewer')),
    ADD COLUMN expires_at timestamptz;

-- Every master caches the keys; a change to who may do what tells them at once, so a revoked
-- key stops working everywhere within a moment rather than at the next cache refresh.
CREATE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('api_keys', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR UPDATE OF name, role, expires_at, revoked_at ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();

-- When a key was last used, to the minute: each master writes it at most once a minute per key.
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
