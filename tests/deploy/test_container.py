"""The container image and docker-compose.yml, checked without a Docker engine (none runs here): the Dockerfile
is parsed and held to its rules, the compose file is validated against the Compose Specification schema and
its wiring checked, and the image's health check is run against a real server."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from authorium.healthcheck import private_port
from tests.conftest import DEMO_CLIENT_ENV

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(ROOT / "Dockerfile"))


def stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def test_the_image_is_built_in_stages_and_runs_unprivileged(dockerfile: DockerfileParser) -> None:
    built = stages(dockerfile)
    assert len(built) >= 2, "a build stage and a runtime stage"
    final = built[-1]
    assert "slim" in dockerfile.baseimage or "slim" in dockerfile.args.get("PYTHON", "")
    commands = {i["instruction"] for i in final}
    # Nothing is compiled or installed in the final stage: it only copies the virtualenv from the build stage.
    runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    assert "pip" not in runs and "apt-get" not in runs and "gcc" not in runs
    assert any(i["instruction"] == "COPY" and i["value"].startswith("--from=build") for i in final)
    user = [i["value"] for i in final if i["instruction"] == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in commands
    cmd = [i["value"] for i in final if i["instruction"] == "CMD"][-1]
    assert '"authorium", "serve"' in cmd


def test_the_build_installs_no_test_dependencies(dockerfile: DockerfileParser) -> None:
    runs = " ".join(i["value"] for i in dockerfile.structure if i["instruction"] == "RUN")
    assert "pip install" in runs
    assert "[test" not in runs and "embedded" not in runs and "-e " not in runs


def test_the_package_the_image_installs_carries_templates_static_files_and_migrations(tmp_path: Path) -> None:
    # What `pip install .` in the build stage puts in the image, built here the same way.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = tmp_path.glob("authorium-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "client_demo/templates/base.html",
        "client_demo/templates/flow.html",
        "client_demo/static/demo.css",
        "authz/templates/login.html",
        "authz/static/authz.css",
        "authz/migrations/0001_initial.sql",
        "authorium/healthcheck.py",
    ):
        assert required in names, f"{required} is missing from the wheel"


@pytest.mark.parametrize(
    ("argv", "environ", "port"),
    [
        (["/opt/authorium/bin/python", "/opt/authorium/bin/authorium", "serve", "authz"], {}, 8010),
        (["authorium", "serve", "resource"], {}, 8011),
        (["authorium", "serve", "client-demo", "--port", "9002"], {}, 8012),
        (["authorium", "serve", "client-demo", "--host", "0.0.0.0"], {"AUTHORIUM_ADMIN_PORT": "9012"}, 9012),
        (["authorium", "setup"], {}, None),
        (["sh"], {}, None),
    ],
)
def test_the_health_check_asks_the_private_port_of_the_service_the_container_serves(
    argv: list[str], environ: dict[str, str], port: int | None
) -> None:
    assert private_port(argv, environ) == port


async def test_the_health_check_passes_once_the_service_is_ready_and_fails_without_one(
    environ: dict[str, str],
) -> None:
    """Healthy means ready (what compose's `service_healthy` waits for), asked on the private listener: the public one
    does not answer `/readyz` (issue 14)."""
    from client_demo.app import create_app
    from client_demo.settings import ClientDemoSettings
    from tests.servers import private_url, run_service

    code = (
        "import sys; from authorium import healthcheck as h; "
        "h.private_port = lambda *_: int(sys.argv[1]); sys.exit(h.main())"
    )
    async with run_service(ClientDemoSettings.from_env, create_app, {**environ, **DEMO_CLIENT_ENV}) as (url, app):
        private = private_url(app).rsplit(":", 1)[1]
        public = url.rsplit(":", 1)[1]
        alive = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code, private], capture_output=True)
        wrong = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code, public], capture_output=True)
    assert alive.returncode == 0, alive.stderr
    assert wrong.returncode == 1, "the public listener answers /readyz with 404"
    dead = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code, private], capture_output=True)
    assert dead.returncode == 1 and b"unhealthy" in dead.stderr


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [Path(sys.executable).parent / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_compose_file_fails_the_schema_check(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("condition: service_healthy", "condition: when_ready", 1))
    result = subprocess.run(
        [Path(sys.executable).parent / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_compose_wires_stores_setup_and_services_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "setup", "authz", "resource", "client-demo"} <= set(services)
    for store in ("postgres", "redis"):
        assert services[store]["healthcheck"]["test"]
        assert services[store]["volumes"], f"{store} keeps its data in a volume"
    assert services["setup"]["command"] == ["authorium", "setup"]
    assert services["setup"]["restart"] == "no"
    for name, port in (("authz", 8000), ("resource", 8001), ("client-demo", 8002)):
        service = services[name]
        assert service["command"][:3] == ["authorium", "serve", name]
        assert f"{port}:{port}" in service["ports"]
        assert str(port) in service["command"]
        assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert services["resource"]["depends_on"]["authz"]["condition"] == "service_healthy"
    assert services["client-demo"]["depends_on"]["authz"]["condition"] == "service_healthy"
    assert set(compose["volumes"]) == {"postgres-data", "redis-data"}


def test_compose_health_checks_ask_the_private_listener_which_is_published_nowhere(compose: dict[str, Any]) -> None:
    """Issue 14: each service's health check is `/readyz` on its private listener (AUTHORIUM_ADMIN_PORT in its
    environment, which the health check reads as the service does), and no host port maps to a private listener."""
    services = compose["services"]
    private = {"authz": 8010, "resource": 8011, "client-demo": 8012}
    for name, port in private.items():
        service = services[name]
        assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "authorium.healthcheck"]
        assert private_port(service["command"], service["environment"]) == port
        published = {int(mapping.split(":")[-1]) for mapping in service.get("ports", [])}
        assert not published & set(private.values()), f"{name} publishes a private listener"
        assert "expose" not in service


def test_every_variable_compose_needs_is_in_env_example(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (ROOT / ".env.example").read_text()
    declared = set(re.findall(r"^(\w+)=", example, flags=re.M))
    assert required, "compose names the variables it needs"
    assert required <= declared, f"missing from .env.example: {sorted(required - declared)}"
    # No secret is filled in: the example shows where secrets go, never one.
    for name in ("AUTHORIUM_KEK", "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET", "AUTHORIUM_DEMO_PASSWORD"):
        assert re.search(rf"^{name}=$", example, flags=re.M), f"{name} has a value in .env.example"
