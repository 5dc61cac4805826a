"""The device flow with a real device and a real browser (RFC 8628): `examples/device_cli.py` runs as its own process,
prints the user code and the verification URI and polls, while a person in headless Chromium opens the URI, signs in on
the login page, compares the code on the consent page and allows; the program then calls the notes API as them and
lists their notes. And a denial: the program is told and stops."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import BrowserContext, expect

from tests.authz.devices import make_device_client
from tests.authz.flows import PASSWORD, make_user
from tests.stack import Stack, running_stack

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "device_cli.py"


@pytest.fixture(scope="module")
async def device_stack(module_environ: dict[str, str], module_db: asyncpg.Pool) -> AsyncIterator[Stack]:
    """The whole stack, with devices told to poll every second (the default five would only make the test slower)."""
    async with running_stack({**module_environ, "AUTHORIUM_DEVICE_POLL_INTERVAL": "1"}, module_db) as running:
        yield running


class Device:
    """examples/device_cli.py running as a separate process against the stack."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(cls, stack: Stack, client_id: str) -> Device:
        env = {
            "AUTHORIUM_ISSUER": stack.authz,
            "NOTES_API_URL": stack.resource,
            "DEVICE_CLIENT_ID": client_id,
            "DEVICE_SCOPE": "notes:read",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLE), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        return cls(process)

    async def line(self) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout=20)
        assert raw, f"the device printed nothing more: {await self.stderr()}"
        self.lines.append(raw.decode().rstrip("\n"))
        return self.lines[-1]

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()

    async def finish(self) -> tuple[int, str, str]:
        out, err = await asyncio.wait_for(self.process.communicate(), timeout=30)
        return int(self.process.returncode or 0), "\n".join([*self.lines, out.decode()]), err.decode()

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


@pytest.fixture
async def device_client(module_db: asyncpg.Pool) -> str:
    return (await make_device_client(module_db, scope="notes:read notes:write")).client_id


async def start_device(stack: Stack, client_id: str) -> tuple[Device, str, str]:
    """The device's two lines: the URI and code to type, and the complete URI."""
    device = await Device.start(stack, client_id)
    first = await device.line()
    assert first.startswith(f"To sign in, visit {stack.authz}/device and enter the code "), first
    user_code = first.rsplit(" ", 1)[1]
    complete = (await device.line()).removeprefix("or open ")
    assert complete == f"{stack.authz}/device?user_code={user_code}"
    return device, user_code, complete


async def test_a_person_approves_a_command_line_sign_in_in_the_browser(
    device_stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, device_client: str, tmp_path: Path
) -> None:
    stack = device_stack
    username = await make_user(module_db)
    user_id = str(await module_db.fetchval("SELECT user_id FROM users WHERE username = $1", username))
    await module_db.execute(
        "INSERT INTO notes (note_id, owner, title) VALUES ($1, $2, 'groceries')", uuid.uuid4(), user_id
    )
    device, user_code, _ = await start_device(stack, device_client)
    try:
        page = await context.new_page()
        # The verification URI, typed as the device says: the code in lower case, without its dash.
        await page.goto(stack.authz + "/device")
        await expect(page.get_by_role("heading", name="Connect a device")).to_be_visible()
        await page.get_by_label("Code").fill(user_code.replace("-", "").lower())
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Allow")).to_be_visible()
        # Section 5.4: the code to compare with the device's, and what the device asks for.
        await expect(page.get_by_text(user_code, exact=True)).to_be_visible()
        await expect(page.locator("code", has_text="notes:read")).to_be_visible()
        await page.screenshot(path=tmp_path / "consent.png", full_page=True)
        await page.get_by_role("button", name="Allow").click()
        await expect(page.get_by_role("heading", name="Device connected")).to_be_visible()
        code, out, err = await device.finish()
    finally:
        device.kill()
    assert code == 0, err
    assert f"signed in as user {user_id} (scopes: notes:read)" in out, out
    assert "1 note(s):" in out and "groceries" in out, out


async def test_a_person_denies_and_the_device_stops(
    device_stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, device_client: str
) -> None:
    stack = device_stack
    username = await make_user(module_db)
    device, user_code, complete = await start_device(stack, device_client)
    try:
        page = await context.new_page()
        await page.goto(complete)  # verification_uri_complete: straight to the sign-in
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_text(user_code, exact=True)).to_be_visible()
        await page.get_by_role("button", name="Deny").click()
        await expect(page.get_by_role("heading", name="Access denied")).to_be_visible()
        code, out, err = await device.finish()
    finally:
        device.kill()
    assert code != 0 and "the sign-in was denied" in err, (out, err)
