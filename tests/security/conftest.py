"""The attack suite runs against the same real servers as the per-service suites, through their fixtures."""

from __future__ import annotations

from tests.authz.conftest import cheap_password_hashing, person, start_authz  # noqa: F401 - fixtures
from tests.client_demo.conftest import stack  # noqa: F401 - fixture
from tests.resource.conftest import api, authz, module_http, start_resource  # noqa: F401 - fixtures
