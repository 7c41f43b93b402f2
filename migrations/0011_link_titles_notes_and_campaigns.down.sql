ALTER TABLE links DROP COLUMN utm;
DROP INDEX IF EXISTS links_notes_trigrams;
DROP INDEX IF EXISTS links_title_trigrams;
ALTER TABLE links DROP COLUMN notes;
ALTER TABLE links DROP COLUMN title;
