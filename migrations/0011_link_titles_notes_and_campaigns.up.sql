-- What a link is for, for people: a title (up to 512 characters) and notes (up to 4 KiB),
-- found by GET /api/links?q= like its code and target, from trigram indexes of their own.
ALTER TABLE links ADD COLUMN title text;
ALTER TABLE links ADD COLUMN notes text;
CREATE INDEX links_title_trigrams ON links USING gin (title gin_trgm_ops);
CREATE INDEX links_notes_trigrams ON links USING gin (notes gin_trgm_ops);
-- The link's campaign parameters as the query text the replicas add to its target
-- (utm_source=…&utm_medium=…, values percent-encoded); NULL for none.
ALTER TABLE links ADD COLUMN utm text;
