-- Click counts as the replicas report them: per (code, replica, epoch) the highest running total
-- seen. A link's clicks are the sum of its rows. Keeping the maximum makes applying a count event
-- idempotent: a repeated, late or reordered event never changes a total.
-- No foreign key to links: a count must never be refused (it would stall its partition), and
-- replicas only count codes they learned from the links topic anyway.
CREATE TABLE click_counts (
    code           text NOT NULL,
    replica_id     text NOT NULL,
    replica_epoch  text NOT NULL,
    total          bigint NOT NULL CHECK (total >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, replica_id, replica_epoch)
);
