-- OpenID Connect Core section 9: a client registered with a token_endpoint_auth_method (dynamic registration, or
-- `authorium client create --auth-method`) authenticates only that way. A client the operator made without naming
-- one may send its secret either way, as every client stored before this column did: they read as false.
ALTER TABLE clients ADD COLUMN auth_method_explicit boolean NOT NULL DEFAULT false;
