DROP TRIGGER api_keys_changed ON api_keys;
DROP FUNCTION api_keys_notify();
ALTER TABLE api_keys DROP COLUMN last_used_at, DROP COLUMN expires_at, DROP COLUMN role;
