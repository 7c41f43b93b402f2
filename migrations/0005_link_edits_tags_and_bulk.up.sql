-- Link management: tags, edits and bulk creation.

-- 0-10 tags per link (checked by the master); GET /api/links?tag= finds them through the index.
ALTER TABLE links ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
CREATE INDEX links_tags ON links USING gin (tags);

-- `master links import` keys each row by a hash of it, so importing a file twice creates
-- nothing twice. NULL for links made through the API.
ALTER TABLE links ADD COLUMN import_key text UNIQUE;

-- POST /api/links/bulk with an Idempotency-Key: the first answer is kept and a retry of the
-- same request gets it again. Scoped per API key, like idempotency_keys.
CREATE TABLE bulk_requests (
    scope         text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    response      bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
