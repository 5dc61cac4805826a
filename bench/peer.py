"""The peer: node-oidc-provider (npm `oidc-provider`, a certified OpenID provider) issuing client-credentials
JWT access tokens (RS256, in-memory storage, one Node process), installed from npm into a folder of its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.stack import free_port

VERSION = "9"
CLIENT = ("bench", "bench-secret-of-sufficient-length-0123456789")
FOLDER = Path(os.environ.get("AUTHORIUM_BENCH_PEER_DIR", Path.home() / ".cache" / "authorium-bench-peer"))

SERVER = """
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const port = Number(process.argv[2]);
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "peer-rs256", use: "sig", alg: "RS256" };
const resource = "https://api.example";

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: "%(client_id)s",
    client_secret: "%(client_secret)s",
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  jwks: { keys: [jwk] },
  scopes: ["notes:read"],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      getResourceServerInfo: () => ({
        scope: "notes:read", audience: resource, accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } },
      }),
      useGrantedResource: () => true,
    },
  },
});
provider.listen(port, "127.0.0.1", () => console.log("listening"));
"""


@dataclass(frozen=True)
class Peer:
    url: str
    version: str
    pid: int


def available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def install() -> str:
    """Install (or reuse) oidc-provider in FOLDER; returns the installed version."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    (FOLDER / "package.json").write_text('{"private": true, "type": "module"}\n')
    (FOLDER / "server.mjs").write_text(SERVER % {"client_id": CLIENT[0], "client_secret": CLIENT[1]})
    if not (FOLDER / "node_modules" / "oidc-provider").exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", f"oidc-provider@{VERSION}"],
            cwd=FOLDER,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    package = (FOLDER / "node_modules" / "oidc-provider" / "package.json").read_text()
    return package.split('"version": "', 1)[1].split('"', 1)[0]


@asynccontextmanager
async def running() -> AsyncIterator[Peer]:
    version = await asyncio.to_thread(install)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        "node",
        "server.mjs",
        str(port),
        cwd=FOLDER,
        env={**os.environ, "NODE_ENV": "production"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        if b"listening" not in line:
            raise RuntimeError("node-oidc-provider did not start")
        yield Peer(f"http://127.0.0.1:{port}", version, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
