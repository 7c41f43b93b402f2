DROP INDEX links_created_by;
ALTER TABLE links DROP COLUMN created_by_name, DROP COLUMN created_by_key;

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR UPDATE OF name, role, expires_at, revoked_at ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();

UPDATE api_keys SET role = 'viewer' WHERE role = 'creator';
ALTER TABLE api_keys
    DROP COLUMN domains,
    DROP COLUMN tags,
    DROP CONSTRAINT api_keys_role_check,
    ADD CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'editor', 'viewer'));
