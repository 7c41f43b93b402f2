DROP INDEX IF EXISTS bulk_requests_created_at;
DROP INDEX IF EXISTS idempotency_keys_created_at;
