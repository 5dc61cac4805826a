"""Authorization requests as the OpenID conformance suite's Basic OP plan sends them (docs/conformance.md): the
parameters this server does not act on are ignored, the request may come as a POST form, and the order of scopes
does not matter."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from tests.authz.conftest import Person
from tests.authz.flows import authorize, make_client, query_of

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

IGNORED = {
    # OIDC Core 3.1.2.1: display, ui_locales, claims_locales and acr_values are OPTIONAL for the OP to honour;
    # 5.5: the `claims` parameter, which discovery says is not supported (claims_parameter_supported: false).
    "display": "page",
    "ui_locales": "se",
    "claims_locales": "se",
    "acr_values": "1 2",
    "claims": orjson.dumps({"id_token": {"email": {"essential": True}}}).decode(),
    # RFC 6749 section 3.1: "The authorization server MUST ignore unrecognized request parameters."
    "extra": "foobar",
}


@pytest.mark.parametrize("name", sorted(IGNORED))
async def test_a_parameter_this_server_does_not_act_on_is_ignored(
    authz: str, db: asyncpg.Pool, person: Person, name: str
) -> None:
    """oidcc-display-page, oidcc-ui-locales, oidcc-claims-locales, oidcc-ensure-request-with-acr-values-succeeds,
    oidcc-claims-essential, oidcc-unknown-parameter: each still ends with a code and the request's state."""
    client = await make_client(db)
    result = await authorize(
        person.browser, authz, client, person.username, scope="openid", state="st", **{name: IGNORED[name]}
    )
    assert result.params["state"] == "st"
    assert result.params["code"]


async def test_an_authorization_request_may_be_a_post_form(authz: str, db: asyncpg.Pool, person: Person) -> None:
    """OIDC Core 3.1.2.1: "Authorization Servers MUST support the use of the HTTP GET and POST methods"; POST sends
    the parameters form-serialised (oidcc-ensure-post-request-succeeds)."""
    client = await make_client(db)
    await authorize(person.browser, authz, client, person.username, scope="openid", state="first")  # consents once
    form = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid",
        "state": "posted",
    }
    async with person.browser.post(authz + "/authorize", data=form, allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
        params = query_of(resp.headers["Location"])
    assert params["state"] == "posted"
    assert params["code"]


async def test_the_order_of_scopes_does_not_matter(authz: str, db: asyncpg.Pool, person: Person) -> None:
    """RFC 6749 section 3.3: scope is a list of space-delimited, case-sensitive strings; their order carries no
    meaning (oidcc-scope-profile sends `profile openid`)."""
    client = await make_client(db)
    result = await authorize(person.browser, authz, client, person.username, scope="profile openid", state="s")
    assert result.params["code"]
