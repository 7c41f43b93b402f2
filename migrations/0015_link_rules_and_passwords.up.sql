-- A link's redirect rules and A/B split (LinkRouting: {"rules":[…],"split":[…]}), decided on
-- the replicas for every visit; NULL when every visitor goes to its url.
ALTER TABLE links ADD COLUMN routing jsonb;
-- The argon2id hash (PHC string) of the password a visitor must give; NULL for none. The
-- password itself is never stored.
ALTER TABLE links ADD COLUMN password_hash text;
