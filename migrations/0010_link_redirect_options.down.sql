ALTER TABLE links DROP COLUMN crawlable;
ALTER TABLE links DROP COLUMN forward_query;
ALTER TABLE links DROP COLUMN redirect_type;
