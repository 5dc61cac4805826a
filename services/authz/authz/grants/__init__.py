"""The grant types the token endpoint serves, found by `grant_type` (one module per grant, each declaring its
GRANT_TYPE); registration and discovery list the same names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from authz.grants import authorization_code, client_credentials, device_code, refresh_token, token_exchange
from authz.grants.request import TokenRequest

Exchange = Callable[[TokenRequest], Awaitable[dict[str, Any]]]

GRANTS: dict[str, Exchange] = {
    module.GRANT_TYPE: module.exchange
    for module in (authorization_code, client_credentials, refresh_token, token_exchange, device_code)
}
GRANT_TYPES = tuple(GRANTS)
