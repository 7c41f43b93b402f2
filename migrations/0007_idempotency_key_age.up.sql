-- Idempotency keys are forgotten after a retention (24 h by default, IdempotencyPruning): an
-- index on their age keeps each pruning an index range, never a scan of the table.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE INDEX bulk_requests_created_at ON bulk_requests (created_at);
