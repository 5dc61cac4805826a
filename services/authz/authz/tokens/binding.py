"""DPoP key binding at this server's endpoints (RFC 9449 sections 5 and 10): the proof a request carries is checked
once (section 4.3) and gives the thumbprint of the client's key, which what the grants issue is then bound to."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.dpop import proof_from
from authorium_shared.errors import InvalidDPoPProof
from authz.appkeys import DPOP, SETTINGS


async def proof_key(request: web.Request, *, required: bool) -> str | None:
    """The RFC 7638 thumbprint of the key of the request's DPoP proof, checked for this request's method and URI
    (any endpoint of this server: the token endpoint, the PAR endpoint of section 10.1); None when the request
    has no proof, unless `required` (a client registered with `dpop_bound_access_tokens`, section 5.2)."""
    proof = proof_from(request)
    if proof is None:
        if required:
            raise InvalidDPoPProof("this client's tokens must be DPoP-bound: send a DPoP proof")
        return None
    uri = request.app[SETTINGS].issuer + request.rel_url.raw_path
    checked = await request.app[DPOP].check(proof, method=request.method, uri=uri)
    return checked.jkt
