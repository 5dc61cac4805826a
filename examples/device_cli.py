"""A command-line sign-in with the device authorization grant (RFC 8628): the program shows a code and a web address,
the person approves on any device with a browser, and the program, which has polled meanwhile, calls the notes API as
them. Run it with a public client registered for the grant, for example:

    authorium client create --name "notes cli" --public \\
        --grant-type urn:ietf:params:oauth:grant-type:device_code --scope "notes:read notes:write" --json
    DEVICE_CLIENT_ID=... python examples/device_cli.py
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import aiohttp

ISSUER = os.environ.get("AUTHORIUM_ISSUER", "http://127.0.0.1:8000")
API = os.environ.get("NOTES_API_URL", "http://127.0.0.1:8001")
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 8628 section 3.5: each slow_down adds five seconds to the wait, for the rest of this sign-in.
SLOW_DOWN_STEP = 5


async def post_form(session: aiohttp.ClientSession, url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with session.post(url, data=form) as resp:
        return resp.status, await resp.json()


async def sign_in(session: aiohttp.ClientSession, client_id: str, scope: str) -> dict[str, Any]:
    """The device flow: ask for codes (section 3.1), show them (3.3), poll until the person decides (3.4, 3.5)."""
    async with session.get(f"{ISSUER}/.well-known/oauth-authorization-server") as resp:
        resp.raise_for_status()
        metadata = await resp.json()
    status, codes = await post_form(
        session, metadata["device_authorization_endpoint"], {"client_id": client_id, "scope": scope}
    )
    if status != 200:
        raise SystemExit(f"device authorization failed: {codes.get('error')}: {codes.get('error_description')}")
    print(f"To sign in, visit {codes['verification_uri']} and enter the code {codes['user_code']}", flush=True)
    print(f"or open {codes['verification_uri_complete']}", flush=True)
    interval = float(codes.get("interval", 5))
    form = {"grant_type": GRANT_TYPE, "device_code": codes["device_code"], "client_id": client_id}
    while True:
        await asyncio.sleep(interval)
        status, body = await post_form(session, metadata["token_endpoint"], form)
        if status == 200:
            return body
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            # The server says the new interval; without it, add the five seconds the RFC prescribes.
            interval = float(body.get("interval", interval + SLOW_DOWN_STEP))
            continue
        if error == "access_denied":
            raise SystemExit("the sign-in was denied")
        if error == "expired_token":
            raise SystemExit("the code expired before anyone approved it; run the program again")
        raise SystemExit(f"sign-in failed: {error}: {body.get('error_description')}")


async def main() -> None:
    client_id = os.environ["DEVICE_CLIENT_ID"]
    scope = os.environ.get("DEVICE_SCOPE", "notes:read")
    async with aiohttp.ClientSession() as session:
        tokens = await sign_in(session, client_id, scope)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with session.get(API + "/api/me", headers=headers) as resp:
            resp.raise_for_status()
            me = await resp.json()
        print(f"signed in as user {me['sub']} (scopes: {me['scope']})", flush=True)
        async with session.get(API + "/api/notes", headers=headers) as resp:
            resp.raise_for_status()
            notes = (await resp.json())["notes"]
        print(f"{len(notes)} note(s):")
        for note in notes:
            print(f"  {note['created_at'][:19]}  {note['title']}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
