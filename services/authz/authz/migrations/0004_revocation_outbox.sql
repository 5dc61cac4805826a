-- The revocations table as an outbox: a revocation is durable once its row is committed, and `published` says
-- whether Redis's lists have it yet. A background publisher in authz brings every unexpired unpublished row into
-- Redis and announces it, retrying until Redis takes it (services/authz/authz/revocation/publisher.py). Rows stored
-- before this migration read as unpublished and are published once, harmlessly (adding to the lists is idempotent).
-- A constant default adds the column without rewriting the table; its indexes follow in 0005, built concurrently.
ALTER TABLE revocations ADD COLUMN published boolean NOT NULL DEFAULT false;
