DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR UPDATE OF name, role, expires_at, revoked_at, tags, domains ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();

ALTER TABLE api_keys DROP COLUMN create_burst, DROP COLUMN create_rate_limit;
