"""The checks of an RP-Initiated Logout request (OpenID Connect RP-Initiated Logout 1.0 sections 2, 3 and 4), as
small pure functions: the `id_token_hint` (an ID token this server issued, its signature checked, expired or not), the
client (`client_id` and the hint's `aud` must agree), the `post_logout_redirect_uri` (exactly one the client
registered) and `state`. Anything that fails is shown to the person, never redirected (section 4)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from authorium_shared.jwt import TokenInvalid, verify_with_keyset
from authorium_shared.keys import ALGORITHMS, KeySet
from authz.authorization.checks import ID_TOKEN_TYP, MAX_STATE_LENGTH
from authz.clients.records import Client
from authz.sessions.store import Session


class LogoutRefused(Exception):
    """A logout request that cannot be acted on as asked: shown to the person on an error page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Hint:
    """What a verified `id_token_hint` says: who, for which client, in which session (if it names one)."""

    subject: str
    client_id: str
    sid: str | None


@dataclass(frozen=True)
class LogoutRequest:
    client_id: str | None
    post_logout_redirect_uri: str | None
    state: str | None
    hint: Hint | None
    logout_hint: str | None

    def confirmed_for(self, session: Session, username: str | None) -> bool:
        """Whether the request proves it comes from a client this session's person uses, so the sign-out needs no
        confirmation: an `id_token_hint` for this person and, where it names one, this session (section 2: without
        one, or for someone else, the person is asked); a `logout_hint` naming someone else asks too."""
        hint = self.hint
        if hint is None or hint.subject != session.user_id:
            return False
        if hint.sid is not None and hint.sid != session.oidc_sid:
            return False
        return self.logout_hint is None or self.logout_hint in (username, session.user_id)


def check_id_token_hint(token: str | None, keyset: KeySet, *, issuer: str) -> Hint | None:
    """Section 2: an ID token this server issued (our key's signature, `typ` JWT, our `iss`), naming one client. Its
    expiry is not checked: an RP's last ID token has usually expired when the person signs out (section 2 says the OP
    SHOULD accept it). What bounds its age is the key ring, as for the authorization endpoint's hint."""
    if token is None:
        return None
    try:
        claims = verify_with_keyset(
            token,
            keyset,
            algorithms=ALGORITHMS,
            issuer=issuer,
            audience=None,
            typ=ID_TOKEN_TYP,
            leeway=math.inf,
            required=("iss", "sub", "aud"),
        )
    except TokenInvalid as exc:
        reason = f"The sign-out request carries an ID token this server did not issue ({exc.reason})."
        raise LogoutRefused(reason) from None
    subject, audience, sid = claims["sub"], claims["aud"], claims.get("sid")
    if isinstance(audience, list) and len(audience) == 1:
        audience = audience[0]
    if not isinstance(subject, str) or not subject or not isinstance(audience, str) or not audience:
        raise LogoutRefused("The sign-out request carries an ID token that names no single person and application.")
    return Hint(subject=subject, client_id=audience, sid=sid if isinstance(sid, str) else None)


def check_client(client_id: str | None, hint: Hint | None) -> str | None:
    """Section 2: the client is the hint's audience; `client_id`, when both are given, MUST be the same one."""
    if client_id is not None and hint is not None and client_id != hint.client_id:
        raise LogoutRefused("The sign-out request names one application, and its ID token another.")
    return client_id if client_id is not None else hint.client_id if hint is not None else None


def check_post_logout_redirect_uri(client: Client | None, client_id: str | None, uri: str | None) -> str | None:
    """Sections 2 and 3: where to send the person afterwards, only if it is exactly one of the URIs the client
    registered; with no client known (neither `client_id` nor `id_token_hint`) there is nothing to check it against."""
    if uri is None:
        return None
    if client_id is None:
        raise LogoutRefused(
            "The application asked to send you back after signing out, but did not say which application it is."
        )
    if client is None:
        raise LogoutRefused("The application that sent you here is not registered.")
    if uri not in client.post_logout_redirect_uris:
        raise LogoutRefused("The application asked to send you to an address it has not registered.")
    return uri


def check_state(state: str | None) -> str | None:
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise LogoutRefused("The sign-out request's state is too long.")
    return state


def check_logout_request(params: Mapping[str, str], keyset: KeySet, *, issuer: str) -> LogoutRequest:
    """The checks that need no lookup; the redirect URI is checked once the client is found."""
    hint = check_id_token_hint(params.get("id_token_hint"), keyset, issuer=issuer)
    client_id = check_client(params.get("client_id"), hint)
    if client_id is not None and not client_id.isprintable():
        raise LogoutRefused("The application that sent you here is not registered.")
    return LogoutRequest(
        client_id=client_id,
        post_logout_redirect_uri=params.get("post_logout_redirect_uri"),
        state=check_state(params.get("state")),
        hint=hint,
        logout_hint=params.get("logout_hint"),
    )
