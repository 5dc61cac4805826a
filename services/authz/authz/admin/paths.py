"""Where the admin API's resources are (DESIGN.md, "Admin API")."""

from __future__ import annotations

OPENAPI = "/admin/openapi.json"
V1 = "/admin/v1"
CLIENTS = V1 + "/clients"
CLIENT = CLIENTS + "/{client_id}"
CLIENT_SECRET = CLIENT + "/secret"
USERS = V1 + "/users"
USER = USERS + "/{user_id}"
USER_SIGN_OUT = USER + "/sign-out"
USER_GRANTS = USER + "/grants"
USER_CONSENTS = USER + "/consents"
USER_CONSENT = USER_CONSENTS + "/{client_id}"
GRANT = V1 + "/grants/{grant_id}"
AUDIT_EVENTS = V1 + "/audit-events"
KEYS = V1 + "/keys"
KEYS_ROTATE = KEYS + "/rotate"
