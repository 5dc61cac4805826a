-- Client metadata for the second round's features, each named as its specification names it:
-- OpenID Connect RP-Initiated Logout 1.0 section 3.1 (post_logout_redirect_uris), Back-Channel Logout 1.0 section 2.2
-- (backchannel_logout_uri, backchannel_logout_session_required), RFC 7591 section 2 (jwks, jwks_uri: the keys a
-- private_key_jwt client signs its assertions with, RFC 7523), RFC 9449 section 5.2 (dpop_bound_access_tokens),
-- RFC 9126 section 6 (require_pushed_authorization_requests), and the operator's token-exchange policy (RFC 8693):
-- the registered resources this client may exchange a user's token towards. Existing clients read as before.
ALTER TABLE clients
    ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
    ADD COLUMN backchannel_logout_uri text,
    ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false,
    ADD COLUMN jwks jsonb,
    ADD COLUMN jwks_uri text,
    ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false,
    ADD COLUMN may_exchange_for text[] NOT NULL DEFAULT '{}',
    ADD COLUMN require_pushed_authorization_requests boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT clients_one_key_source CHECK (jwks IS NULL OR jwks_uri IS NULL);

-- A private_key_jwt client authenticates with its key (RFC 7523 section 2.2) and is issued no secret; a public client
-- never has one; every other client has one.
ALTER TABLE clients DROP CONSTRAINT clients_token_endpoint_auth_method_check;
ALTER TABLE clients ADD CONSTRAINT clients_token_endpoint_auth_method_check
    CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));
ALTER TABLE clients DROP CONSTRAINT clients_check;
ALTER TABLE clients ADD CONSTRAINT clients_secret_by_method CHECK (
    CASE token_endpoint_auth_method
        WHEN 'none' THEN secret_hash IS NULL
        WHEN 'private_key_jwt' THEN true
        ELSE secret_hash IS NOT NULL
    END
);
