-- Back to links keyed by their code alone: only possible while every link is on the default
-- domain (two domains' links may share a code).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM links WHERE domain <> '') THEN
        RAISE EXCEPTION 'links on domains other than the default exist; delete them (and their rows) first';
    END IF;
END;
$$;

ALTER TABLE idempotency_keys RENAME COLUMN link_key TO code;
ALTER TABLE click_values RENAME COLUMN link_key TO code;
ALTER TABLE click_days RENAME COLUMN link_key TO code;
ALTER TABLE click_hours RENAME COLUMN link_key TO code;
ALTER TABLE click_counts RENAME COLUMN link_key TO code;

DROP INDEX links_newest_first;
DROP INDEX links_domain_newest_first;
ALTER TABLE links DROP CONSTRAINT links_pkey;
ALTER TABLE links DROP COLUMN link_key;
ALTER TABLE links DROP COLUMN domain;
ALTER TABLE links ADD PRIMARY KEY (code);
CREATE INDEX links_newest_first ON links (created_at DESC, code DESC);
DROP TABLE domains;
