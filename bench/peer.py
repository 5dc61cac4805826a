"""The peer: node-oidc-provider (npm `oidc-provider`, a certified OpenID provider, one Node process), installed from
npm into a folder of its own, run once per signing algorithm: ES256 (Authorium's default, like for like) and RS256."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.stack import free_port

VERSION = "9"
CLIENT = ("bench", "bench-secret-of-sufficient-length-0123456789")
FOLDER = Path(os.environ.get("AUTHORIUM_BENCH_PEER_DIR", Path.home() / ".cache" / "authorium-bench-peer"))

# The peer configured as Authorium is: access tokens as JWTs (RFC 9068) signed with ALG (argv[3]); refresh tokens
# rotated on every use; ID tokens in the same algorithm; introspection on. Its storage is in memory (a plain Map:
# the bundled adapter is an LRU of 1,000 entries, too small for a run's refresh tokens), Authorium's is Postgres.
# JWT access tokens are not introspectable there by design, so introspection is measured on an opaque one.
# `POST /bench/refresh?count=N` makes N grants with a refresh token each, as a code exchange would, for the bench.
SERVER = """
import { createServer } from "node:http";
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const port = Number(process.argv[2]);
const alg = process.argv[3];
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const keys = [
  { ...rsa.export({ format: "jwk" }), kid: "peer-rs256", use: "sig", alg: "RS256" },
  { ...ec.export({ format: "jwk" }), kid: "peer-es256", use: "sig", alg: "ES256" },
];
const resource = "https://api.example";
const opaque = "https://opaque.example";

const store = new Map();
class MapAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload) {
    store.set(this.key(id), payload);
    if (payload.grantId) {
      const members = store.get(`grant:${payload.grantId}`) || [];
      members.push(this.key(id));
      store.set(`grant:${payload.grantId}`, members);
    }
  }
  async find(id) { return store.get(this.key(id)); }
  async findByUid() { return undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { const p = store.get(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const key of store.get(`grant:${grantId}`) || []) store.delete(key);
    store.delete(`grant:${grantId}`);
  }
}

const provider = new Provider(`http://127.0.0.1:${port}`, {
  adapter: MapAdapter,
  clients: [{
    client_id: "%(client_id)s",
    client_secret: "%(client_secret)s",
    grant_types: ["client_credentials", "refresh_token", "authorization_code"],
    redirect_uris: ["https://bench.example/callback"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: alg,
  }],
  jwks: { keys },
  scopes: ["openid", "offline_access", "notes:read"],
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  rotateRefreshToken: true,
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      getResourceServerInfo: (ctx, indicator) => ({
        scope: "notes:read", audience: indicator,
        accessTokenFormat: indicator === opaque ? "opaque" : "jwt", jwt: { sign: { alg } },
      }),
      useGrantedResource: () => true,
    },
  },
});

async function refreshTokens(count) {
  const client = await provider.Client.find("%(client_id)s");
  const tokens = [];
  for (let i = 0; i < count; i++) {
    const accountId = `bench-user-${i %% 100}`;
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope("openid offline_access");
    grant.addResourceScope(resource, "notes:read");
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      client, accountId, grantId, scope: "openid offline_access notes:read", resource,
      gty: "authorization_code", authTime: Math.floor(Date.now() / 1000),
    });
    tokens.push(await token.save());
  }
  return tokens;
}

const callback = provider.callback();
createServer(async (req, res) => {
  if (req.method === "POST" && req.url.startsWith("/bench/refresh?count=")) {
    const tokens = await refreshTokens(Number(req.url.split("=")[1]));
    res.writeHead(200, { "content-type": "text/plain" }).end(tokens.join("\\n"));
    return;
  }
  callback(req, res);
}).listen(port, "127.0.0.1", () => console.log("listening"));
"""


@dataclass(frozen=True)
class Peer:
    url: str
    version: str
    pid: int
    alg: str
    # An opaque access token (introspectable there) and where to introspect it.
    opaque_token_resource: str = "https://opaque.example"
    introspection_path: str = "/token/introspection"


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
async def running(alg: str) -> AsyncIterator[Peer]:
    version = await asyncio.to_thread(install)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        "node",
        "server.mjs",
        str(port),
        alg,
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
        yield Peer(f"http://127.0.0.1:{port}", version, proc.pid, alg)
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()


async def opaque_token(node: Peer) -> str:
    """A client-credentials access token in the peer's opaque format, which its introspection endpoint answers."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            node.url + "/token",
            data=f"grant_type=client_credentials&scope=notes:read&resource={node.opaque_token_resource}",
            headers={"Authorization": _basic(), "Content-Type": "application/x-www-form-urlencoded"},
        ) as resp,
    ):
        answer = await resp.json()
        assert resp.status == 200, answer
        return str(answer["access_token"])


async def refresh_tokens(node: Peer, count: int) -> list[str]:
    """`count` refresh tokens, each of its own grant, made inside the peer (as its code exchange would)."""
    tokens: list[str] = []
    async with aiohttp.ClientSession() as http:
        for start in range(0, count, 1000):
            async with http.post(f"{node.url}/bench/refresh?count={min(1000, count - start)}") as resp:
                assert resp.status == 200
                tokens += (await resp.text()).split("\n")
    return tokens


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{CLIENT[0]}:{CLIENT[1]}".encode()).decode()
