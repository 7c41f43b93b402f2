-- Keys limited to less than their role: a `creator` sees only the links it created, and any
-- key may be limited to links carrying one of its tags and to its domains (stored names, ''
-- for the default domain). Empty arrays limit nothing.
ALTER TABLE api_keys
    DROP CONSTRAINT api_keys_role_check,
    ADD CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'editor', 'creator', 'viewer')),
    ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
    ADD COLUMN domains text[] NOT NULL DEFAULT '{}';

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR UPDATE OF name, role, expires_at, revoked_at, tags, domains ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();

-- Who created each link: the key's id and its name at the time (never its secret); NULL for
-- links made without a key or before keys were recorded.
ALTER TABLE links
    ADD COLUMN created_by_key text,
    ADD COLUMN created_by_name text;

-- A creator's listing: its links, newest first, as the keyset pages read them.
CREATE INDEX links_created_by ON links (created_by_key, created_at DESC, link_key DESC)
    WHERE created_by_key IS NOT NULL;
