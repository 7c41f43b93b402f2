-- A key may have its own create rate limit (creates a second; 0: none) and burst, instead of
-- the master's SHORTENER_CREATE_RATE_LIMIT and SHORTENER_CREATE_RATE_BURST. NULL: the defaults.
ALTER TABLE api_keys
    ADD COLUMN create_rate_limit double precision CHECK (create_rate_limit BETWEEN 0 AND 100000),
    ADD COLUMN create_burst integer CHECK (create_burst BETWEEN 1 AND 100000);

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE
        OR UPDATE OF name, role, expires_at, revoked_at, tags, domains, create_rate_limit, create_burst
    ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();
