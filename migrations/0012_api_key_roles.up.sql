-- Scoped API keys: every key has a role, and may expire. Keys made before roles existed keep
-- the rights they had: admin.
ALTER TABLE api_keys
    ADD COLUMN role text NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'editor', 'viewer')),
    ADD COLUMN expires_at timestamptz;
