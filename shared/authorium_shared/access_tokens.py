"""The access-token profile both servers agree on (RFC 9068): media type, algorithms, claim names."""

from __future__ import annotations

from typing import Final

from authorium_shared.keys import ALGORITHMS

TYP: Final = "at+jwt"
# Every algorithm the authorization server can sign with; a verifier accepts nothing else.
ALLOWED_ALGORITHMS: Final = ALGORITHMS
REQUIRED_CLAIMS: Final = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
# A private claim naming the grant a token came from, so revoking a grant revokes its access tokens.
GRANT_ID_CLAIM: Final = "grant_id"
# A private claim of exchanged tokens (RFC 8693), whose grant is the user's: the service grant of the client that
# exchanged it, so that disabling or deleting that client revokes it as it revokes the client's other tokens.
CLIENT_GRANT_ID_CLAIM: Final = "client_grant_id"
# RFC 7800 section 3.1 and RFC 9449 section 6.1: a DPoP-bound token's `cnf` holds its key's thumbprint as `jkt`.
CONFIRMATION_CLAIM: Final = "cnf"
JKT: Final = "jkt"
