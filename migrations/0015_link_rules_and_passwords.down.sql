ALTER TABLE links DROP COLUMN password_hash;
ALTER TABLE links DROP COLUMN routing;
