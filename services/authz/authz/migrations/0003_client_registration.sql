-- OpenID Connect Core section 9: a client registered with a token_endpoint_auth_method (dynamic registration, or
-- `authorium client create --auth-method`) authenticates only that way. A client the operator made without naming
-- one may send its secret either way, as every client stored before this column did: they read as false.
ALTER TABLE clients ADD COLUMN auth_method_explicit boolean NOT NULL DEFAULT false;
-- RFC 7592: the registration access token of a client that registered itself, as its SHA-256 digest (256 random
-- bits, so a fast digest is safe; only the client ever holds the token). NULL for clients the operator made, which
-- have no configuration endpoint.
ALTER TABLE clients ADD COLUMN registration_token_hash bytea;
