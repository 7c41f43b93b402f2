-- Link lifecycle and the write API's safeguards.

-- A link may be limited to a number of visits; it answers 410 once they are used up.
ALTER TABLE links ADD COLUMN max_clicks bigint CHECK (max_clicks > 0);
-- Set when the master's click total reached max_clicks (the replicas were told).
ALTER TABLE links ADD COLUMN exhausted_at timestamptz;

-- GET /api/links pages newest first by (created_at, code): a keyset, never an OFFSET.
CREATE INDEX links_newest_first ON links (created_at DESC, code DESC);

-- API keys for the write endpoints. Only a SHA-256 of the secret is kept; the secret is shown
-- once, when the key is created. A revoked key stays listed.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    secret_hash  bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- Idempotent creates: the first create with an Idempotency-Key remembers its link, and a retry
-- with the same key (and the same body) gets the same link back. Scoped per API key.
CREATE TABLE idempotency_keys (
    scope         text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    code          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
