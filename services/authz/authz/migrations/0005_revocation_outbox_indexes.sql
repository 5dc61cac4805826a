-- authorium: no-transaction
-- The outbox's indexes (0004), built without blocking revocations on a table that may be big. Each is dropped first,
-- so a run cut short (which leaves an invalid index behind) builds it again.
-- What the publisher drains: unpublished rows, oldest first.
DROP INDEX CONCURRENTLY IF EXISTS revocations_unpublished_idx;
CREATE INDEX CONCURRENTLY revocations_unpublished_idx ON revocations (revoked_at) WHERE NOT published;
-- The newest published revocation, looked up in Redis every half second: a Redis that came back without it (a
-- failover to a replica that had not caught up) is refilled.
DROP INDEX CONCURRENTLY IF EXISTS revocations_revoked_at_idx;
CREATE INDEX CONCURRENTLY revocations_revoked_at_idx ON revocations (revoked_at);
