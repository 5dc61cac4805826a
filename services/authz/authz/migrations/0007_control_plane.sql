-- The control plane (admin API and management CLI). Every column is added with a default the previous release's code
-- never has to write, so it keeps working against this schema.
-- A disabled client cannot authenticate; its grants were revoked when it was disabled.
ALTER TABLE clients ADD COLUMN disabled boolean NOT NULL DEFAULT false;
-- A rotated secret may keep working for an overlap window: the old digest and the moment it stops.
ALTER TABLE clients ADD COLUMN previous_secret_hash bytea;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at timestamptz;
-- Per-client access- and refresh-token lifetimes; NULL is the server's (never longer than the server's).
ALTER TABLE clients ADD COLUMN access_token_ttl integer CHECK (access_token_ttl > 0);
ALTER TABLE clients ADD COLUMN refresh_token_ttl integer CHECK (refresh_token_ttl > 0);
-- The grant id that client-credentials access tokens carry, so disabling or deleting the client revokes them on every
-- resource server through the grant revocation list; replaced by a new one each time it is revoked. (The clients
-- table is small: the volatile default's rewrite is brief.)
ALTER TABLE clients ADD COLUMN service_grant_id uuid NOT NULL DEFAULT gen_random_uuid();
-- A disabled user cannot sign in; their grants were revoked and their sessions ended when they were disabled.
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
-- When a grant last issued tokens (its creation, then each refresh), for the admin API's grant listings.
ALTER TABLE grants ADD COLUMN last_used_at timestamptz;
