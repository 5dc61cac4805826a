-- Second factors (multi-factor sign-in): authenticator apps (TOTP, RFC 6238) and their one-time recovery codes.
-- New tables only, so the previous release's code keeps working against this schema.

-- One authenticator app per user. `secret` is the shared TOTP key, AES-256-GCM under AUTHORIUM_KEK and bound to the
-- factor's id (as signing keys' private parts are). A row with no `confirmed_at` is an enrolment waiting for its
-- first code: it is no factor yet. `last_used_step` is the RFC 6238 time step of the last code accepted: a code
-- of that step or an earlier one is never accepted again (section 5.2).
CREATE TABLE totp_factors (
    factor_id uuid PRIMARY KEY,
    user_id uuid NOT NULL UNIQUE REFERENCES users ON DELETE CASCADE,
    secret bytea NOT NULL,
    confirmed_at timestamptz,
    last_used_step bigint,
    last_used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Recovery codes, each usable once: only a SHA-256 digest of each is kept (they are 80 random bits, so a plain
-- digest cannot be reversed by guessing). Using one deletes it.
CREATE TABLE recovery_codes (
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);
