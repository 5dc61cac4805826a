-- The resource registry (RFC 8707): the APIs access tokens are issued for, each by its identifier (an absolute URI
-- without a fragment, section 2) with the scopes it declares. A scope belongs to one resource only; the registry
-- checks that under a lock (authz/resources/repository.py), since a unique index cannot span array elements. The
-- admin API is built in and never stored; the notes API is stored under id `notes` by `authorium setup` / `run`.
CREATE TABLE resources (
    resource_id text PRIMARY KEY,
    identifier text NOT NULL UNIQUE,
    name text,
    scopes text[] NOT NULL DEFAULT '{}',
    -- Seconds; NULL means the server's AUTHORIUM_ACCESS_TOKEN_TTL, which also caps it.
    access_token_ttl integer CHECK (access_token_ttl > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
