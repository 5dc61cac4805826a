-- The revocations table as an outbox: a revocation is durable once its row is committed, and `published` says
-- whether Redis's lists have it yet. A background publisher in authz brings every unexpired unpublished row into
-- Redis and announces it, retrying until Redis takes it (services/authz/authz/revocation/publisher.py). Rows stored
-- before this migration read as unpublished and are published once, harmlessly (adding to the lists is idempotent).
-- A constant default adds the column without rewriting the table.
ALTER TABLE revocations ADD COLUMN published boolean NOT NULL DEFAULT false;
CREATE INDEX revocations_unpublished_idx ON revocations (revoked_at) WHERE NOT published;
-- The newest published revocation, looked up in Redis every second: a Redis that came back without it (a failover
-- to a replica that had not caught up) is refilled.
CREATE INDEX revocations_revoked_at_idx ON revocations (revoked_at);
