-- GET /api/links?q= finds text anywhere in a link's code or target (ILIKE '%text%'). Without an
-- index such a search reads every link: 2.5 s for a text that matches nothing among a million,
-- past the breaker's call timeout. Trigram indexes (pg_trgm, a trusted extension) answer it from
-- the index; the API asks for at least three characters, a trigram.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX links_url_trigrams ON links USING gin (url gin_trgm_ops);
CREATE INDEX links_code_trigrams ON links USING gin (code gin_trgm_ops);
