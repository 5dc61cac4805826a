-- authorium: no-transaction
-- Sessions and logout (OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0). Outside a transaction so
-- the grants index is built without blocking token requests; every statement can run again after a run cut short.
-- The session (its OpenID Connect `sid`, never the cookie's secret id) a grant was made in: signing out of that
-- session revokes the grant unless it was issued for offline_access. NULL for service grants and older grants.
ALTER TABLE grants ADD COLUMN IF NOT EXISTS sid text;
DROP INDEX CONCURRENTLY IF EXISTS grants_sid_idx;
CREATE INDEX CONCURRENTLY grants_sid_idx ON grants (sid) WHERE sid IS NOT NULL;
-- The back-channel logout outbox: one row per logout token still to be delivered to a client's
-- backchannel_logout_uri. A row is written in the transaction that signs the person out, so a replica that stops
-- loses nothing; any authz replica's sender delivers it, retrying with backoff, and deletes it once the client answered
-- (or it gave up, which the audit log records). A sender takes a row by pushing `next_attempt_at` past its lease.
CREATE TABLE IF NOT EXISTS backchannel_logouts (
    id bigserial PRIMARY KEY,
    client_id text NOT NULL REFERENCES clients ON DELETE CASCADE,
    -- The logout token's `sid` and `sub` (Back-Channel Logout 1.0 section 2.4): at least one of them.
    sid text,
    subject text,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    CHECK (sid IS NOT NULL OR subject IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS backchannel_logouts_due_idx ON backchannel_logouts (next_attempt_at);
