-- The authorization server's durable state. Secrets are never stored in clear: client secrets as SHA-256
-- digests of 256-bit random values, passwords as Argon2id hashes, refresh tokens as SHA-256 digests.

CREATE TABLE clients (
    client_id text PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    secret_hash bytea,
    token_endpoint_auth_method text NOT NULL
        CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    grant_types text[] NOT NULL,
    redirect_uris text[] NOT NULL DEFAULT '{}',
    scopes text[] NOT NULL DEFAULT '{}',
    id_token_signed_response_alg text NOT NULL DEFAULT 'RS256',
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- A public client has no secret; a confidential one always has one.
    CHECK ((token_endpoint_auth_method = 'none') = (secret_hash IS NULL))
);

CREATE TABLE users (
    user_id uuid PRIMARY KEY,
    username text NOT NULL CHECK (length(username) BETWEEN 1 AND 100),
    password_hash text NOT NULL,
    name text,
    email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE consents (
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    client_id text NOT NULL REFERENCES clients ON DELETE CASCADE,
    scopes text[] NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);

-- One grant per authorization: the refresh-token family and everything issued from one code.
CREATE TABLE grants (
    grant_id uuid PRIMARY KEY,
    client_id text NOT NULL REFERENCES clients ON DELETE CASCADE,
    user_id uuid REFERENCES users ON DELETE CASCADE,
    scopes text[] NOT NULL,
    audience text[] NOT NULL DEFAULT '{}',
    nonce text,
    auth_time timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_reason text
);
CREATE INDEX grants_client_id_idx ON grants (client_id);
CREATE INDEX grants_user_id_idx ON grants (user_id);
CREATE INDEX grants_expires_at_idx ON grants (expires_at);

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    grant_id uuid NOT NULL REFERENCES grants ON DELETE CASCADE,
    scopes text[] NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set when the token is rotated; presenting it again after that is reuse (RFC 9700 section 4.14.2).
    used_at timestamptz,
    successor_hash bytea
);
CREATE INDEX refresh_tokens_grant_id_idx ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
    kid text PRIMARY KEY,
    alg text NOT NULL CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    state text NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    public_jwk jsonb NOT NULL,
    -- AES-256-GCM under AUTHORIUM_KEK, bound to kid and alg.
    encrypted_private_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    retired_at timestamptz
);
-- At most one signing key per algorithm at any moment.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';

-- Durable record of every revocation, so a Redis that loses its data un-revokes nothing.
CREATE TABLE revocations (
    kind text NOT NULL CHECK (kind IN ('token', 'grant')),
    id text NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    -- After this, nothing it revoked can still be valid, so the row may be pruned.
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);

CREATE TABLE audit_events (
    id bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    event text NOT NULL,
    client_id text,
    user_id uuid,
    remote_addr text,
    request_id text,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_event_idx ON audit_events (event, occurred_at);
