-- How a link redirects: its status (301, 302, 307 or 308), whether the visitor's query string
-- is carried over to the target, and whether search engines may index it (robots.txt, and no
-- X-Robots-Tag: noindex). Existing links get the defaults: 302, forwarded, not crawlable.
ALTER TABLE links ADD COLUMN redirect_type smallint NOT NULL DEFAULT 302
    CHECK (redirect_type IN (301, 302, 307, 308));
ALTER TABLE links ADD COLUMN forward_query boolean NOT NULL DEFAULT true;
ALTER TABLE links ADD COLUMN crawlable boolean NOT NULL DEFAULT false;
