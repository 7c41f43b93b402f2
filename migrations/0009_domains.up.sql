-- Short domains: a link belongs to one, and codes are unique per domain.
--
-- The default domain (the host SHORTENER_PUBLIC_URL names) is the row named '': its links are
-- the ones made before domains existed, and it follows that setting wherever it points.
-- A removed domain keeps its row (deleted_at) so that its links keep theirs and their codes
-- are never issued again on that name; adding the name again brings the row back.
CREATE TABLE domains (
    name           text PRIMARY KEY,
    -- Where the domain's root (/), an unknown code, and an expired, deleted or used-up link
    -- redirect; NULL keeps the replica's own 404 / 410 page.
    root_url       text,
    not_found_url  text,
    expired_url    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    -- Grows with every change; carried by the domain's events so replicas apply them idempotently.
    revision       bigint NOT NULL DEFAULT 1
);
INSERT INTO domains (name) VALUES ('');

-- Every existing link stays on the default domain.
ALTER TABLE links ADD COLUMN domain text NOT NULL DEFAULT '' REFERENCES domains (name);
-- The link's address as one text, what the pipeline keys it by: the bare code on the default
-- domain (the key every event had before domains), '<domain>/<code>' elsewhere.
ALTER TABLE links ADD COLUMN link_key text NOT NULL
    GENERATED ALWAYS AS (CASE WHEN domain = '' THEN code ELSE domain || '/' || code END) STORED;
ALTER TABLE links DROP CONSTRAINT links_pkey;
ALTER TABLE links ADD PRIMARY KEY (link_key);
-- Listing by domain, and the keyset of listings by the key (a code alone is no longer unique).
CREATE INDEX links_domain_newest_first ON links (domain, created_at DESC, link_key DESC);
DROP INDEX links_newest_first;
CREATE INDEX links_newest_first ON links (created_at DESC, link_key DESC);

-- Clicks are kept per link key, as the replicas count them.
ALTER TABLE click_counts RENAME COLUMN code TO link_key;
ALTER TABLE click_hours RENAME COLUMN code TO link_key;
ALTER TABLE click_days RENAME COLUMN code TO link_key;
ALTER TABLE click_values RENAME COLUMN code TO link_key;
-- An idempotent create remembers the link's key.
ALTER TABLE idempotency_keys RENAME COLUMN code TO link_key;
