DROP INDEX IF EXISTS links_code_trigrams;
DROP INDEX IF EXISTS links_url_trigrams;
-- The extension stays: another schema object may use it, and it costs nothing unused.
