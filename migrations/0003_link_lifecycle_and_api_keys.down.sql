DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS api_keys;
DROP INDEX IF EXISTS links_newest_first;
ALTER TABLE links DROP COLUMN IF EXISTS exhausted_at;
ALTER TABLE links DROP COLUMN IF EXISTS max_clicks;
