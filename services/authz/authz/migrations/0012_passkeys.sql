-- Passkeys and security keys (WebAuthn Level 2). New tables only: the previous release's code never reads them.
-- Each user who registers one gets an opaque user handle (section 5.4.3: at most 64 random bytes, never the username):
-- it is what a discoverable credential gives back, so it names the user without saying who they are.
CREATE TABLE passkey_users (
    user_id uuid PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    user_handle bytea NOT NULL UNIQUE CHECK (octet_length(user_handle) BETWEEN 16 AND 64),
    UNIQUE (user_id, user_handle)
);

CREATE TABLE passkeys (
    -- How pages, the admin API and the audit trail name the credential (the credential id is long and the
    -- authenticator's choice).
    passkey_id uuid PRIMARY KEY,
    -- Section 4, "Credential ID": at most 1023 bytes.
    credential_id bytea NOT NULL UNIQUE CHECK (octet_length(credential_id) BETWEEN 16 AND 1023),
    user_id uuid NOT NULL,
    user_handle bytea NOT NULL,
    -- The credential public key, COSE_Key encoded (section 6.5.1.1), as the attested credential data carried it.
    public_key bytea NOT NULL,
    -- Section 6.1.1: the last signature counter seen; an assertion must carry a larger one unless both are 0.
    sign_count bigint NOT NULL DEFAULT 0 CHECK (sign_count >= 0 AND sign_count <= 4294967295),
    transports text[] NOT NULL DEFAULT '{}',
    -- Backup eligible (the BE flag, fixed for the credential's life): a synced passkey rather than a device-bound key.
    backup_eligible boolean NOT NULL DEFAULT false,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    FOREIGN KEY (user_id, user_handle) REFERENCES passkey_users (user_id, user_handle) ON DELETE CASCADE
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
