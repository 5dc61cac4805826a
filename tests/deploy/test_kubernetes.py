"""Offline checks of the Kubernetes manifests in k8s/: the base and the single-instance and kind overlays are rendered
with tests/deploy/kustomize.py (compared with `kubectl kustomize` where kubectl exists), every object is validated
against the newest Kubernetes schema bundled with kubernetes-validate (strict: unknown fields fail), and the
security and operability properties the manifests promise are asserted, network policies by evaluating them."""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version, major_minor

from authorium.services import SERVICES as CLI_SERVICES
from authorium_shared.keys import generate_kek
from authz.settings import AuthzSettings
from client_demo.settings import ClientDemoSettings
from resource_server.settings import ResourceSettings
from tests.deploy import kustomize

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "single-instance"
KIND = K8S / "overlays" / "kind"
README = K8S / "README.md"
SECRET_TEMPLATE = K8S / "secret-template"
NAMESPACE = "authorium"
KUBERNETES_VERSION = latest_version()

IMAGE_NAME = "ghcr.io/authorium/authorium"
IMAGE = f"{IMAGE_NAME}:0.1.0"
# The image each rendering runs: the base's tag, or on kind the one built and loaded on this machine.
IMAGES = {"base": IMAGE, "overlay": IMAGE, "kind": "authorium:dev"}
SERVICES = {"authz": 8000, "resource": 8001, "client-demo": 8002}
# Each service's private listener (issue 14): the port its settings default to, which the manifests leave in place.
PRIVATE_PORTS = {name: CLI_SERVICES[name].default_admin_port for name in SERVICES}
PROMETHEUS = ("monitoring", {"app.kubernetes.io/name": "prometheus"})
AUTHORIUM_LABELS = {"app.kubernetes.io/name": "authorium"}

# The documented placeholders (RFC 5737 documentation addresses) the operator replaces.
POSTGRES_IP, REDIS_IP, PUBLIC_INGRESS_IP = "192.0.2.10", "192.0.2.20", "192.0.2.30"
INGRESS_CONTROLLER_NS = "ingress-nginx"
DNS = ("kube-system", {"k8s-app": "kube-dns"})

CONFIG_VARS = {
    "AUTHORIUM_REDIS_PREFIX",
    "AUTHORIUM_ISSUER",
    "AUTHORIUM_RESOURCE_URL",
    "AUTHORIUM_CLIENT_DEMO_URL",
    "AUTHORIUM_LOG_LEVEL",
    "AUTHORIUM_JWKS_URL",
    "AUTHORIUM_CLIENT_DEMO_CLIENT_ID",
    "AUTHORIUM_CLIENT_DEMO_AUTHZ_URL",
    "AUTHORIUM_TRUSTED_PROXY_HOPS",
    "AUTHORIUM_ADMIN_URL",
    "AUTHORIUM_IMAGE",  # not a setting: what makes the set-up Job's name change with the image
}
SECRET_VARS = {
    "DATABASE_URL",
    "REDIS_URL",
    "AUTHORIUM_KEK",
    "AUTHORIUM_REGISTRATION_TOKEN",
    "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET",
    "AUTHORIUM_DEMO_PASSWORD",
    "AUTHORIUM_ADMIN_CLIENT_SECRET",
}
OPTIONAL_SECRET_VARS = {"AUTHORIUM_REGISTRATION_TOKEN", "AUTHORIUM_DEMO_PASSWORD", "AUTHORIUM_ADMIN_CLIENT_SECRET"}
COMMON = {
    "REDIS_URL",
    "AUTHORIUM_REDIS_PREFIX",
    "AUTHORIUM_ISSUER",
    "AUTHORIUM_RESOURCE_URL",
    "AUTHORIUM_CLIENT_DEMO_URL",
    "AUTHORIUM_LOG_LEVEL",
    "AUTHORIUM_TRUSTED_PROXY_HOPS",
}
# What each container needs, from the Secret (by name) or the ConfigMap (all of it, through envFrom).
EXPECTED_ENV = {
    "authz": COMMON | {"DATABASE_URL", "AUTHORIUM_KEK", "AUTHORIUM_REGISTRATION_TOKEN", "AUTHORIUM_ADMIN_URL"},
    "resource": COMMON | {"DATABASE_URL", "AUTHORIUM_JWKS_URL"},
    "client-demo": COMMON
    | {"AUTHORIUM_CLIENT_DEMO_CLIENT_ID", "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET", "AUTHORIUM_CLIENT_DEMO_AUTHZ_URL"},
    "setup": COMMON
    | {
        "DATABASE_URL",
        "AUTHORIUM_KEK",
        "AUTHORIUM_REGISTRATION_TOKEN",
        "AUTHORIUM_CLIENT_DEMO_CLIENT_ID",
        "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET",
        "AUTHORIUM_DEMO_PASSWORD",
        "AUTHORIUM_ADMIN_URL",
        "AUTHORIUM_ADMIN_CLIENT_SECRET",
    },
}

Objects = list[dict[str, Any]]


@pytest.fixture(scope="module")
def base() -> Objects:
    return kustomize.render(K8S)


@pytest.fixture(scope="module")
def overlay() -> Objects:
    return kustomize.render(OVERLAY)


@pytest.fixture(scope="module")
def kind() -> Objects:
    return kustomize.render(KIND)


@pytest.fixture(scope="module")
def secret_template() -> Objects:
    return kustomize.render(SECRET_TEMPLATE)


@pytest.fixture(scope="module", params=list(IMAGES))
def variant(request: pytest.FixtureRequest) -> str:
    """Which rendering: the base, the single-instance overlay, or the kind overlay."""
    return str(request.param)


@pytest.fixture(scope="module")
def rendered(request: pytest.FixtureRequest, variant: str) -> Objects:
    return request.getfixturevalue(variant)


@pytest.fixture(scope="module")
def secrets(rendered: Objects, variant: str, secret_template: Objects) -> dict[str, str]:
    """The Secret's values: the overlay's own; for the base (which leaves the Secret to the operator) the
    template's, whose keys the real Secret has; on kind, the keys the README's command gives it."""
    if variant == "kind":
        return dict.fromkeys(kind_secret_keys(), "from the command")
    found = of_kind(rendered, "Secret") or of_kind(secret_template, "Secret")
    return decoded_secret(found["authorium"])


def kind_secret_keys() -> list[str]:
    """The keys of the Secret that k8s/README.md's `kubectl create secret` command for kind makes."""
    section = README.read_text().split("## On kind", 1)[1].split("\n## ", 1)[0]
    command = section[section.index("kubectl -n authorium create secret") :].split("\n```", 1)[0]
    words = shlex.split(command.replace("\\\n", " "), comments=True)
    return [w.split("=", 2)[1] for w in words if w.startswith("--from-literal=")]


def of_kind(objects: Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def one(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert name in found, f"no {kind} {name}"
    return found[name]


def config_map(objects: Objects) -> dict[str, Any]:
    """The generated ConfigMap `authorium-<hash>` (the only ConfigMap of a rendering)."""
    (found,) = of_kind(objects, "ConfigMap").values()
    assert re.fullmatch(r"authorium-[a-z0-9]{10}", found["metadata"]["name"]), found["metadata"]["name"]
    return found


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def workloads(objects: Objects) -> Iterator[dict[str, Any]]:
    return (obj for obj in objects if obj["kind"] in ("Deployment", "StatefulSet", "Job"))


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against a set of labels."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def decoded_secret(secret: dict[str, Any]) -> dict[str, str]:
    """What the API server would store: `data` decoded, overridden by `stringData`."""
    values = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    return values


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G)?$")
_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value: str | int) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"unexpected quantity {value!r}"
    return float(match[1]) * _FACTORS[match[2]]


# Rendering and schema validation


def ids(objects: Objects) -> set[tuple[str, str]]:
    """(kind, name) of each object, with the ConfigMap's and the set-up Job's hashed name as `authorium-<hash>`."""
    hashed = config_map(objects)["metadata"]["name"]
    return {(obj["kind"], obj["metadata"]["name"].replace(hashed, "authorium-<hash>")) for obj in objects}


def test_base_holds_what_operators_apply(base: Objects) -> None:
    assert ids(base) == set(
        [
            ("Namespace", NAMESPACE),
            ("ServiceAccount", "authorium"),
            ("ConfigMap", "authorium-<hash>"),
            ("Job", "authorium-<hash>"),
            *[(kind, name) for name in SERVICES for kind in ("Deployment", "Service", "PodDisruptionBudget")],
            ("HorizontalPodAutoscaler", "authz"),
            ("HorizontalPodAutoscaler", "resource"),
            ("Ingress", "authorium"),
            *[
                ("NetworkPolicy", name)
                for name in (
                    "default-deny",
                    "allow-dns",
                    "postgres-egress",
                    "redis-egress",
                    "authz-clients-egress",
                    "client-demo-egress",
                    "authz-ingress",
                    "resource-ingress",
                    "client-demo-ingress",
                    "private-listeners-ingress",
                    "private-listeners-egress",
                )
            ],
        ]
    )


IN_CLUSTER_STORES = {
    ("StatefulSet", "postgres"),
    ("Service", "postgres"),
    ("Deployment", "redis"),
    ("Service", "redis"),
    ("NetworkPolicy", "postgres-ingress"),
    ("NetworkPolicy", "redis-ingress"),
}


@pytest.mark.parametrize(("name", "adds"), [("overlay", {("Secret", "authorium")}), ("kind", set())])
def test_overlays_add_a_single_postgres_and_redis(
    request: pytest.FixtureRequest, base: Objects, name: str, adds: set[tuple[str, str]]
) -> None:
    """Both from the one component; on kind the Secret is made by a command (k8s/README.md), not by the overlay."""
    overlay = request.getfixturevalue(name)
    assert ids(overlay) - ids(base) == IN_CLUSTER_STORES | adds
    assert ids(base) <= ids(overlay)
    postgres = one(overlay, "StatefulSet", "postgres")
    assert postgres["spec"]["replicas"] == 1
    assert one(overlay, "Service", postgres["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    (claim,) = postgres["spec"]["volumeClaimTemplates"]
    assert quantity(claim["spec"]["resources"]["requests"]["storage"]) >= 2**30
    mounts = {m["name"]: m["mountPath"] for m in pod_spec(postgres)["containers"][0]["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/postgresql/data"
    assert one(overlay, "Deployment", "redis")["spec"]["replicas"] == 1


def test_every_object_is_valid_for_the_newest_kubernetes(rendered: Objects, secret_template: Objects) -> None:
    assert kubernetes_validate.utils.all_versions()[-1] == KUBERNETES_VERSION
    for obj in rendered + secret_template:
        assert kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True) == major_minor(KUBERNETES_VERSION)


_CONTAINER = ["spec", "template", "spec", "containers", 0]


@pytest.mark.parametrize(
    ("breakage", "path"),
    [
        (lambda d: d["spec"].__setitem__("replicas", "two"), ["spec", "replicas"]),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("readinesProbe", {}), _CONTAINER),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].__setitem__("containerPort", "8k"),
            [*_CONTAINER, "ports", 0, "containerPort"],
        ),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"), _CONTAINER),
        (
            lambda d: d["spec"]["template"]["spec"]["securityContext"].__setitem__("runAsNonRoot", "yes"),
            ["spec", "template", "spec", "securityContext", "runAsNonRoot"],
        ),
    ],
    ids=["replicas-string", "misspelled-field", "port-string", "container-without-name", "bool-as-string"],
)
def test_schema_validation_catches_broken_manifests(base: Objects, breakage: Any, path: list[Any]) -> None:
    deployment = json.loads(json.dumps(one(base, "Deployment", "authz")))
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)  # intact, it passes
    breakage(deployment)
    with pytest.raises(kubernetes_validate.ValidationError) as caught:
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    assert list(caught.value.path) == path


def test_everything_lives_in_the_namespace(rendered: Objects, secret_template: Objects) -> None:
    for obj in rendered + secret_template:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == NAMESPACE
            assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "authorium"


# Workloads


def test_every_workload_is_hardened(rendered: Objects) -> None:
    checked = 0
    for workload in workloads(rendered):
        name = f"{workload['kind']} {workload['metadata']['name']}"
        pod = pod_spec(workload)
        pod_security = pod.get("securityContext") or {}
        assert pod.get("automountServiceAccountToken") is False, name
        assert not any(pod.get(key) for key in ("hostNetwork", "hostPID", "hostIPC")), name
        assert all("hostPath" not in volume for volume in pod.get("volumes") or []), name
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container.get("securityContext") or {}
            effective = {**pod_security, **security}  # the container's settings override the pod's
            assert effective.get("runAsNonRoot") is True, name
            assert effective.get("runAsUser") not in (None, 0), name
            assert effective.get("seccompProfile") == {"type": "RuntimeDefault"}, name
            assert security.get("readOnlyRootFilesystem") is True, name
            assert security.get("allowPrivilegeEscalation") is False, name
            assert security.get("privileged") in (None, False), name
            assert security.get("capabilities") == {"drop": ["ALL"]}, name
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request, limit = resources["requests"][resource], resources["limits"][resource]
                assert 0 < quantity(request) <= quantity(limit), f"{name}: {resource} {request} > {limit}"
            checked += 1
    assert checked >= 4


def authorium_workloads(objects: Objects) -> dict[str, dict[str, Any]]:
    """The Authorium Deployments and the set-up Job, by component."""
    found = {}
    for workload in workloads(objects):
        if selects({"matchLabels": AUTHORIUM_LABELS}, pod_labels(workload)):
            found[pod_labels(workload)["app.kubernetes.io/component"]] = workload
    assert set(found) == {*SERVICES, "setup"}
    return found


def test_authorium_runs_the_one_image_from_the_images_entry(rendered: Objects, variant: str) -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": IMAGE_NAME, "newTag": IMAGE.rsplit(":", 1)[1]}]
    for manifest in BASE.glob("*.yaml"):
        for image in re.findall(r"image: *(\S+)", manifest.read_text()):
            assert image == IMAGE_NAME, f"{manifest.name}: the tag belongs in kustomization.yaml's images"
    for workload in authorium_workloads(rendered).values():
        pod = pod_spec(workload)
        assert [c["image"] for c in pod["containers"] + pod.get("initContainers", [])] == [IMAGES[variant]]
        # kind runs the image `kind load` put on its nodes, which no registry has.
        assert [c.get("imagePullPolicy") for c in pod["containers"]] == ["Never" if variant == "kind" else None]
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["serviceAccountName"] == "authorium"
        assert pod.get("enableServiceLinks") is False  # no FOO_SERVICE_HOST noise in the environment
        (container,) = pod["containers"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_serves_probes_and_stops_gracefully(base: Objects, service: str) -> None:
    deployment = authorium_workloads(base)[service]
    port = SERVICES[service]
    pod = pod_spec(deployment)
    (container,) = pod["containers"]
    assert container["command"] == ["authorium", "serve", service, "--host", "0.0.0.0", "--port", str(port)]
    named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    private = PRIVATE_PORTS[service]
    assert named_ports == {"http": port, "admin": private}

    def probe(kind: str) -> tuple[str, int]:
        get = container[kind]["httpGet"]
        return get["path"], named_ports.get(get["port"], get["port"])

    # Readiness on the private listener, the only one that answers it (issue 14); liveness on either.
    assert probe("livenessProbe") == ("/healthz", port)
    assert probe("startupProbe") == ("/healthz", port)
    assert probe("readinessProbe") == ("/readyz", private)
    # The private listener is where the service's settings put it: nothing sets AUTHORIUM_ADMIN_PORT otherwise.
    assert "AUTHORIUM_ADMIN_PORT" not in env_of(deployment)
    assert "AUTHORIUM_ADMIN_PORT" not in config_map(base)["data"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (str(private), "/metrics")
    # SIGTERM comes after the preStop pause; the service then needs up to 10 s.
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause + 10 < pod["terminationGracePeriodSeconds"] <= 30
    labels = pod_labels(deployment)
    assert labels["app.kubernetes.io/component"] == service
    assert selects(deployment["spec"]["selector"], labels)
    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"] == deployment["spec"]["selector"]
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"


def test_setup_job_is_named_after_the_configuration_and_image_and_stays(rendered: Objects, variant: str) -> None:
    """Re-applying it never meets an immutable pod template: any change to its settings or image gives it a new name
    (kustomize's hash of the ConfigMap, which carries the image too); and no TTL deletes it, which GitOps tools would
    see as drift to undo by running it again."""
    job = authorium_workloads(rendered)["setup"]
    config = config_map(rendered)
    assert job["metadata"]["name"] == config["metadata"]["name"]
    assert config["data"]["AUTHORIUM_IMAGE"] == pod_spec(job)["containers"][0]["image"] == IMAGES[variant]
    pod = pod_spec(job)
    assert pod["containers"][0]["command"] == ["authorium", "setup"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert 1 <= job["spec"]["backoffLimit"] <= 10
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert job["spec"]["activeDeadlineSeconds"] > 0
    assert "selector" not in job["spec"]  # Kubernetes generates a Job's selector
    assert "generateName" not in job["metadata"]  # kubectl apply cannot apply it


def env_of(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = pod_spec(workload)["containers"]
    names = [var["name"] for var in container.get("env", [])]
    assert len(names) == len(set(names))
    return {var["name"]: var for var in container.get("env", [])}


def test_each_container_gets_the_settings_it_uses_from_the_configmap_and_the_secret(
    rendered: Objects, secrets: dict[str, str]
) -> None:
    config = config_map(rendered)
    for component, workload in authorium_workloads(rendered).items():
        (container,) = pod_spec(workload)["containers"]
        # All of the ConfigMap, by its hashed name: a changed setting changes every pod template.
        assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}], component
        env = env_of(workload)
        assert not set(env) & set(config["data"]), f"{component}: a variable both in env and the ConfigMap"
        assert EXPECTED_ENV[component] <= set(env) | set(config["data"]), component
        for name, var in env.items():
            assert "value" not in var, f"{component}: {name} belongs in the ConfigMap or the Secret"
            if name == "AUTHORIUM_WORKERS":
                continue  # below
            assert name in SECRET_VARS and name in EXPECTED_ENV[component], f"{component}: {name}"
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref.get("optional", False) is (name in OPTIONAL_SECRET_VARS)
            assert ref["name"] == "authorium" and ref["key"] == name
            assert name in secrets or ref.get("optional"), f"{component}: {name} missing from the Secret"
        assert set(env) - SECRET_VARS == ({"AUTHORIUM_WORKERS"} if component in SERVICES else set())
    assert set(config["data"]) <= CONFIG_VARS


def test_the_trusted_proxy_setting_reaches_every_service(rendered: Objects, variant: str) -> None:
    config = config_map(rendered)
    for service in SERVICES:
        (container,) = pod_spec(authorium_workloads(rendered)[service])["containers"]
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in container["envFrom"]
    # Behind the one ingress of the base, one hop; on kind, port-forwarded connections come through no proxy.
    assert config["data"]["AUTHORIUM_TRUSTED_PROXY_HOPS"] == ("0" if variant == "kind" else "1")


@pytest.mark.parametrize("service", SERVICES)
def test_workers_follow_the_container_cpu_limit(rendered: Objects, service: str) -> None:
    """`authorium serve` runs AUTHORIUM_WORKERS processes: the Downward API gives it the CPU limit, in whole CPUs
    rounded up (divisor 1), so each worker has a CPU and connections do not multiply by the node's CPUs."""
    (container,) = pod_spec(authorium_workloads(rendered)[service])["containers"]
    source = env_of(authorium_workloads(rendered)[service])["AUTHORIUM_WORKERS"]["valueFrom"]
    assert source == {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}
    workers = math.ceil(quantity(container["resources"]["limits"]["cpu"]))
    assert workers == {"authz": 2, "resource": 1, "client-demo": 1}[service]


def test_a_changed_setting_or_image_rolls_the_pods_and_makes_a_new_setup_job(base: Objects, tmp_path: Path) -> None:
    def names(objects: Objects) -> dict[str, str]:
        found = {c: authorium_workloads(objects)[c] for c in (*SERVICES, "setup")}
        found_names = {c: pod_spec(w)["containers"][0]["envFrom"][0]["configMapRef"]["name"] for c, w in found.items()}
        return {**found_names, "job": found["setup"]["metadata"]["name"]}

    before = names(base)
    assert set(before.values()) == {config_map(base)["metadata"]["name"]}
    assert names(kustomize.render(K8S)) == before, "the same input, the same names: re-applying changes nothing"
    changes = {
        "setting": {"patches": [{"path": "configmap.yaml"}]},
        "image": {"images": [{"name": IMAGE_NAME, "newTag": "0.2.0"}]},
    }
    (tmp_path / "configmap.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "authorium", "namespace": NAMESPACE},
                "data": {"AUTHORIUM_LOG_LEVEL": "DEBUG"},
            }
        )
    )
    for what, change in changes.items():
        base_path = os.path.relpath(BASE, tmp_path)  # kustomize refuses absolute paths
        (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({"resources": [base_path], **change}))
        after = names(kustomize.render(tmp_path))
        assert len(set(after.values())) == 1 and set(after.values()) != set(before.values()), what


@pytest.mark.parametrize("name", ["overlay", "kind"])
def test_overlay_databases_read_their_secrets_from_the_secret(request: pytest.FixtureRequest, name: str) -> None:
    overlay = request.getfixturevalue(name)
    secret = decoded_secret(one(overlay, "Secret", "authorium")) if name == "overlay" else kind_secret_keys()
    for workload in (one(overlay, "StatefulSet", "postgres"), one(overlay, "Deployment", "redis")):
        refs = [var["valueFrom"]["secretKeyRef"] for var in env_of(workload).values() if "valueFrom" in var]
        assert refs
        for ref in refs:
            assert ref["name"] == "authorium" and ref["key"] in secret


# Configuration and secrets


def test_configmap_urls_are_public_origins_and_in_cluster_back_channels(rendered: Objects, variant: str) -> None:
    config = config_map(rendered)["data"]
    if variant == "kind":  # browsers reach it through kubectl port-forward; the API only the demo client calls
        assert [
            config[name] for name in ("AUTHORIUM_ISSUER", "AUTHORIUM_CLIENT_DEMO_URL", "AUTHORIUM_RESOURCE_URL")
        ] == [
            "http://localhost:8000",
            "http://localhost:8002",
            "http://resource:8001",
        ]
    else:
        for name in ("AUTHORIUM_ISSUER", "AUTHORIUM_RESOURCE_URL", "AUTHORIUM_CLIENT_DEMO_URL"):
            url = urlsplit(config[name])
            assert url.scheme == "https" and url.hostname and url.path == "", name
    authz_service = one(rendered, "Service", "authz")
    for name, path in (("AUTHORIUM_JWKS_URL", "/jwks.json"), ("AUTHORIUM_CLIENT_DEMO_AUTHZ_URL", "")):
        url = urlsplit(config[name])
        assert (url.scheme, url.hostname, url.port, url.path) == ("http", "authz", 8000, path)
        assert url.port in [p["port"] for p in authz_service["spec"]["ports"]]
    assert config["AUTHORIUM_LOG_LEVEL"] in ("DEBUG", "INFO", "WARNING", "ERROR")


def test_the_services_accept_the_configuration(rendered: Objects) -> None:
    """Each service's own settings check, over the ConfigMap and well-formed secrets: what would stop a pod at start
    with a configuration error (on kind, the http issuer on localhost among them) fails here first."""
    environ = {
        **config_map(rendered)["data"],
        "DATABASE_URL": "postgresql://authorium:password@postgres:5432/authorium",
        "REDIS_URL": "redis://:password@redis:6379/0",
        "AUTHORIUM_KEK": generate_kek(),
        "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET": "s" * 40,
    }
    for settings in (AuthzSettings, ResourceSettings, ClientDemoSettings):
        settings.from_env(environ)


def test_the_base_leaves_the_secret_to_the_operator_with_a_template_of_placeholders(
    base: Objects, secret_template: Objects
) -> None:
    assert "Secret" not in {obj["kind"] for obj in base}  # re-applying the base never resets the real one
    (secret,) = secret_template
    assert secret["type"] == "Opaque"
    assert "stringData" not in secret  # stringData would override the operator's `data` patch
    assert decoded_secret(secret) == dict.fromkeys(
        ["DATABASE_URL", "REDIS_URL", "AUTHORIUM_KEK", "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET"], "REPLACE_ME"
    )


def test_kind_secret_command_points_at_the_in_cluster_databases(kind: Objects) -> None:
    section = README.read_text().split("## On kind", 1)[1].split("\n## ", 1)[0]
    command = section[section.index("kubectl -n authorium create secret") :].split("\n```", 1)[0]
    words = shlex.split(command.replace("\\\n", " "), comments=True)
    given = dict(w.removeprefix("--from-literal=").split("=", 1) for w in words if w.startswith("--from-literal="))
    assert set(given) == set(kind_secret_keys())
    needed = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for workload in workloads(kind)
        for container in pod_spec(workload)["containers"]
        for var in container.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {}) and not var["valueFrom"]["secretKeyRef"].get("optional")
    }
    assert needed <= set(given), f"the README's command leaves out {needed - set(given)}"

    def variable(value: str) -> str:
        return value.removeprefix("$").strip("{}")

    database, redis = urlsplit(given["DATABASE_URL"]), urlsplit(given["REDIS_URL"])
    assert (database.scheme, database.hostname, database.port, database.path) == (
        "postgresql",
        "postgres",
        5432,
        "/authorium",
    )
    assert variable(database.password or "") == variable(given["POSTGRES_PASSWORD"])
    assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379)
    assert variable(redis.password or "") == variable(given["REDIS_PASSWORD"])


def test_overlay_secret_points_at_the_in_cluster_databases_and_holds_only_placeholders(overlay: Objects) -> None:
    secret = decoded_secret(one(overlay, "Secret", "authorium"))
    assert all("REPLACE_ME" in value for value in secret.values())
    database, redis = urlsplit(secret["DATABASE_URL"]), urlsplit(secret["REDIS_URL"])
    postgres = one(overlay, "StatefulSet", "postgres")
    postgres_env = {v["name"]: v.get("value") for v in pod_spec(postgres)["containers"][0]["env"]}
    assert (database.scheme, database.hostname, database.port) == ("postgresql", "postgres", 5432)
    assert (database.username, database.path) == (postgres_env["POSTGRES_USER"], "/" + postgres_env["POSTGRES_DB"])
    assert database.password == secret["POSTGRES_PASSWORD"]
    assert (redis.scheme, redis.hostname, redis.port, redis.password) == (
        "redis",
        "redis",
        6379,
        secret["REDIS_PASSWORD"],
    )
    for service, port in (("postgres", 5432), ("redis", 6379)):
        assert [p["port"] for p in one(overlay, "Service", service)["spec"]["ports"]] == [port]


# Services, disruption budgets, autoscalers, ingress


def test_every_deployment_has_a_service_and_a_disruption_budget(rendered: Objects) -> None:
    services, budgets = of_kind(rendered, "Service"), of_kind(rendered, "PodDisruptionBudget")
    for workload in workloads(rendered):
        if workload["kind"] == "Job":
            continue
        name, labels = workload["metadata"]["name"], pod_labels(workload)
        ports = {p["name"]: p["containerPort"] for c in pod_spec(workload)["containers"] for p in c["ports"]}
        matching = [s for s in services.values() if selects({"matchLabels": s["spec"]["selector"]}, labels)]
        assert [s["metadata"]["name"] for s in matching] == [name]
        for port in matching[0]["spec"]["ports"]:
            assert ports.get(port["targetPort"], port["targetPort"]) in ports.values()
        if name in SERVICES:
            # The public port; and authz's private one, the admin API's address for callers in the namespace.
            # Prometheus scrapes pods, so no other Service exposes a private listener.
            exposed = {p["name"]: (p["port"], p["targetPort"]) for p in matching[0]["spec"]["ports"]}
            expected = {"http": (SERVICES[name], "http")}
            if name == "authz":
                expected["admin"] = (PRIVATE_PORTS[name], "admin")
            assert exposed == expected, name
        if name not in SERVICES:
            continue
        covering = [b for b in budgets.values() if selects(b["spec"]["selector"], labels)]
        assert [b["metadata"]["name"] for b in covering] == [name]
        # maxUnavailable, not minAvailable: replica counts move with the autoscaler, and a budget that allows no
        # eviction would block every node drain.
        assert set(covering[0]["spec"]) == {"maxUnavailable", "selector"}
        assert covering[0]["spec"]["maxUnavailable"] >= 1
        others = [w for w in workloads(rendered) if w is not workload]
        assert not any(selects(covering[0]["spec"]["selector"], pod_labels(w)) for w in others)


def test_autoscalers_scale_authz_and_resource(base: Objects) -> None:
    autoscalers = of_kind(base, "HorizontalPodAutoscaler")
    assert {a["spec"]["scaleTargetRef"]["name"] for a in autoscalers.values()} == {"authz", "resource"}
    for autoscaler in autoscalers.values():
        assert autoscaler["apiVersion"] == "autoscaling/v2"
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        deployment = one(base, "Deployment", target["name"])
        assert "replicas" not in deployment["spec"]  # else every apply resets what the autoscaler chose
        assert 2 <= autoscaler["spec"]["minReplicas"] < autoscaler["spec"]["maxReplicas"]
        (metric,) = autoscaler["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
        assert all("cpu" in c["resources"]["requests"] for c in pod_spec(deployment)["containers"])
    assert one(base, "Deployment", "client-demo")["spec"]["replicas"] >= 2


def test_ingress_serves_the_three_public_hosts_over_tls(base: Objects) -> None:
    ingress = one(base, "Ingress", "authorium")
    config = config_map(base)["data"]
    expected = {
        urlsplit(config["AUTHORIUM_ISSUER"]).hostname: ("authz", "http"),
        urlsplit(config["AUTHORIUM_RESOURCE_URL"]).hostname: ("resource", "http"),
        urlsplit(config["AUTHORIUM_CLIENT_DEMO_URL"]).hostname: ("client-demo", "http"),
    }
    routes = {}
    for rule in ingress["spec"]["rules"]:
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == ("/", "Prefix")
        backend = path["backend"]["service"]
        routes[rule["host"]] = (backend["name"], backend["port"]["name"])
        assert backend["port"]["name"] in [p["name"] for p in one(base, "Service", backend["name"])["spec"]["ports"]]
    assert routes == expected
    (tls,) = ingress["spec"]["tls"]
    assert set(tls["hosts"]) == set(expected) and tls["secretName"]
    assert "ingressClassName" not in ingress["spec"]  # left to the operator
    assert not ingress["metadata"].get("annotations")


def test_the_ingress_never_routes_a_private_listener(rendered: Objects) -> None:
    """Issue 14: every backend of every Ingress is a Service's public port, by name or by number."""
    for ingress in of_kind(rendered, "Ingress").values():
        backends = [path["backend"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
        backends += [ingress["spec"]["defaultBackend"]] if "defaultBackend" in ingress["spec"] else []
        assert backends
        for backend in backends:
            port = backend["service"]["port"]
            assert port.get("name") == "http" and "number" not in port, backend
            assert port.get("number") not in PRIVATE_PORTS.values()


# Network policies, evaluated


class Peer:
    """A pod (namespace, labels) or an address outside the cluster."""

    def __init__(self, namespace: str | None = None, labels: dict[str, str] | None = None, ip: str | None = None):
        self.namespace, self.labels, self.ip = namespace, labels or {}, ip


def pod(component: str) -> Peer:
    return Peer(NAMESPACE, {**AUTHORIUM_LABELS, "app.kubernetes.io/component": component})


def _peer_matches(rule_peer: dict[str, Any], policy_namespace: str, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        block = rule_peer["ipBlock"]
        if peer.ip is None:
            return False
        address = ipaddress.ip_address(peer.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if peer.namespace is None:
        return False
    if "namespaceSelector" in rule_peer:
        namespace_labels = {"kubernetes.io/metadata.name": peer.namespace}
        if not selects(rule_peer["namespaceSelector"], namespace_labels):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return "podSelector" not in rule_peer or selects(rule_peer["podSelector"], peer.labels)


def _port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    if not rule.get("ports"):
        return True
    return any(
        p.get("protocol", "TCP") == protocol
        and (p.get("port") is None or p["port"] <= port <= p.get("endPort", p["port"]))
        for p in rule["ports"]
    )


def _allowed(policies: Objects, subject: Peer, direction: str, other: Peer, port: int, protocol: str) -> bool:
    """Whether `subject`'s policies of `direction` (Ingress or Egress) let traffic to or from `other` through."""
    relevant = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and selects(p["spec"]["podSelector"], subject.labels)
        and direction in p["spec"]["policyTypes"]
    ]
    if not relevant:
        return True  # not isolated
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    return any(
        _port_matches(rule, port, protocol)
        and (peers_key not in rule or any(_peer_matches(p, subject.namespace or "", other) for p in rule[peers_key]))
        for policy in relevant
        for rule in policy["spec"].get(key) or []
    )


def reachable(objects: Objects, source: Peer, destination: Peer, port: int, protocol: str = "TCP") -> bool:
    """Connection from source to destination:port, through both sides' policies (only pods in the namespace
    have policies here)."""
    policies = list(of_kind(objects, "NetworkPolicy").values())
    if source.namespace == NAMESPACE and not _allowed(policies, source, "Egress", destination, port, protocol):
        return False
    return destination.namespace != NAMESPACE or _allowed(policies, destination, "Ingress", source, port, protocol)


COMPONENTS = [*SERVICES, "setup"]
INGRESS_CONTROLLER = Peer(INGRESS_CONTROLLER_NS, {"app.kubernetes.io/name": "ingress-nginx"})
ELSEWHERE = Peer("default", {"app": "anything"})


def test_network_policies_deny_by_default(rendered: Objects) -> None:
    default_deny = one(rendered, "NetworkPolicy", "default-deny")["spec"]
    assert default_deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    stranger = Peer(NAMESPACE, {"app": "unknown"})
    assert not reachable(rendered, stranger, Peer(ip="93.184.215.14"), 443)
    assert not reachable(rendered, ELSEWHERE, stranger, 80)


def test_every_pod_resolves_names_and_nothing_else_leaves_the_cluster(base: Objects) -> None:
    dns = Peer(DNS[0], DNS[1])
    for component in COMPONENTS:
        assert reachable(base, pod(component), dns, 53, "UDP")
        assert reachable(base, pod(component), dns, 53, "TCP")
        assert not reachable(base, pod(component), dns, 80)
        assert not reachable(base, pod(component), Peer(DNS[0], {"k8s-app": "other"}), 53, "UDP")
        for address in ("8.8.8.8", "10.1.2.3", "169.254.169.254"):
            assert not reachable(base, pod(component), Peer(ip=address), 443)


def test_only_the_services_reach_external_postgres_and_redis(base: Objects) -> None:
    for component in COMPONENTS:
        assert reachable(base, pod(component), Peer(ip=POSTGRES_IP), 5432) is (component != "client-demo")
        assert reachable(base, pod(component), Peer(ip=REDIS_IP), 6379)
        assert not reachable(base, pod(component), Peer(ip=POSTGRES_IP), 6379)
        assert not reachable(base, pod(component), Peer(ip=REDIS_IP), 5432)
    for policy in of_kind(base, "NetworkPolicy").values():
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                if "ipBlock" in peer:  # placeholders: RFC 5737 documentation addresses, routed nowhere
                    assert ipaddress.ip_network(peer["ipBlock"]["cidr"]).subnet_of(ipaddress.ip_network("192.0.2.0/24"))


def test_services_are_reached_only_from_the_ingress_controller_and_their_clients(
    rendered: Objects, variant: str
) -> None:
    # On kind, the demo client calls the API at its in-cluster address (AUTHORIUM_RESOURCE_URL) instead of through
    # an ingress; elsewhere, at its public URL.
    on_kind = variant == "kind"
    for service, port in SERVICES.items():
        assert reachable(rendered, INGRESS_CONTROLLER, pod(service), port)
        assert not reachable(rendered, ELSEWHERE, pod(service), port)
        assert not reachable(rendered, INGRESS_CONTROLLER, pod(service), port + 100)
    assert reachable(rendered, pod("resource"), pod("authz"), 8000)  # JWKS
    assert reachable(rendered, pod("client-demo"), pod("authz"), 8000)  # back channel
    assert reachable(rendered, pod("client-demo"), pod("resource"), 8001) is on_kind
    assert not reachable(rendered, pod("client-demo"), pod("resource"), 8000)
    for source, destination in [
        ("authz", "resource"),
        ("authz", "client-demo"),
        ("resource", "client-demo"),
        ("setup", "authz"),
    ]:
        assert not reachable(rendered, pod(source), pod(destination), SERVICES[destination])
    # Each side on its own too, so that neither relies on the other alone.
    policies = list(of_kind(rendered, "NetworkPolicy").values())
    admitted = {
        service: {c for c in COMPONENTS if _allowed(policies, pod(service), "Ingress", pod(c), port, "TCP")}
        for service, port in SERVICES.items()
    }
    assert admitted == {
        "authz": {"resource", "client-demo"},
        "resource": {"client-demo"} if on_kind else set(),
        "client-demo": set(),
    }
    sends_to_authz = {c for c in COMPONENTS if _allowed(policies, pod(c), "Egress", pod("authz"), 8000, "TCP")}
    assert sends_to_authz == {"resource", "client-demo"}
    sends_to_resource = {c for c in COMPONENTS if _allowed(policies, pod(c), "Egress", pod("resource"), 8001, "TCP")}
    assert sends_to_resource == ({"client-demo"} if on_kind else set())
    assert reachable(rendered, pod("client-demo"), Peer(ip=PUBLIC_INGRESS_IP), 443) is not on_kind
    assert reachable(rendered, pod("client-demo"), INGRESS_CONTROLLER, 443) is not on_kind
    assert not reachable(rendered, pod("authz"), INGRESS_CONTROLLER, 443)


def test_private_listeners_admit_only_this_namespace_and_prometheus(rendered: Objects) -> None:
    """Issue 14: readiness, metrics and the admin API answer any pod of the namespace and Prometheus (from the
    documented namespace), and nobody else: not the ingress controller, not another namespace. Prometheus reaches
    no public port through this rule."""
    prometheus = Peer(*PROMETHEUS)
    in_namespace = [pod(component) for component in COMPONENTS] + [Peer(NAMESPACE, {"app": "operator-tool"})]
    for service, private in PRIVATE_PORTS.items():
        for caller in [*in_namespace, prometheus]:
            assert reachable(rendered, caller, pod(service), private), (caller.labels, service)
        for stranger in (INGRESS_CONTROLLER, ELSEWHERE, Peer("monitoring-not", PROMETHEUS[1])):
            assert not reachable(rendered, stranger, pod(service), private), (stranger.namespace, service)
        assert not reachable(rendered, prometheus, pod(service), SERVICES[service])
    policy = one(rendered, "NetworkPolicy", "private-listeners-ingress")["spec"]
    (rule,) = policy["ingress"]
    assert sorted(p["port"] for p in rule["ports"]) == sorted(PRIVATE_PORTS.values())


@pytest.mark.parametrize("name", ["overlay", "kind"])
def test_overlay_databases_are_reached_only_by_authorium(request: pytest.FixtureRequest, name: str) -> None:
    overlay = request.getfixturevalue(name)
    postgres = Peer(NAMESPACE, pod_labels(one(overlay, "StatefulSet", "postgres")))
    redis = Peer(NAMESPACE, pod_labels(one(overlay, "Deployment", "redis")))
    for component in COMPONENTS:
        assert reachable(overlay, pod(component), postgres, 5432) is (component != "client-demo")
        assert reachable(overlay, pod(component), redis, 6379)
        # the base's external placeholders are replaced, not added to
        assert not reachable(overlay, pod(component), Peer(ip=POSTGRES_IP), 5432)
        assert not reachable(overlay, pod(component), Peer(ip=REDIS_IP), 6379)
    for stranger in (ELSEWHERE, INGRESS_CONTROLLER, Peer(NAMESPACE, {"app": "unknown"})):
        assert not reachable(overlay, stranger, postgres, 5432)
        assert not reachable(overlay, stranger, redis, 6379)
    assert not reachable(overlay, redis, postgres, 5432)
    assert not reachable(overlay, postgres, Peer(ip="8.8.8.8"), 443)


def test_policies_select_the_pods_they_mean_to(rendered: Objects) -> None:
    """Every policy but the namespace-wide ones selects some pod, and every pod selector in a rule matches
    some pod of the namespace, so a typo in a label cannot silently turn a rule into a no-op."""
    pods = [pod_labels(w) for w in workloads(rendered)]
    for name, policy in of_kind(rendered, "NetworkPolicy").items():
        assert any(selects(policy["spec"]["podSelector"], labels) for labels in pods), name
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert any(selects(peer["podSelector"], labels) for labels in pods), name


# The renderer


def _write(directory: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        documents = content if isinstance(content, list) else [content]
        path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


SAMPLE_BASE = {
    "kustomization.yaml": {
        "namespace": "sample",
        "labels": [{"pairs": {"team": "x"}, "includeSelectors": False}],
        "images": [{"name": "example.org/app", "newTag": "2.0"}, {"name": "example.org/db", "newName": "db.io/db"}],
        "resources": ["objects.yaml"],
    },
    "objects.yaml": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "renamed-by-kustomize"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "namespace": "overwritten"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {
                        "initContainers": [{"name": "init", "image": "example.org/app@sha256:0123"}],
                        "containers": [
                            {
                                "name": "app",
                                "image": "example.org/app:1.0",
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                "ports": [{"containerPort": 80}],
                                "args": ["x", "y"],
                            },
                            {"name": "db", "image": "example.org/db:9"},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "np"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}],
            },
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"K": "Vg=="}},
    ],
}
SAMPLE_OVERLAY = {
    "kustomization.yaml": {
        "resources": ["../base"],
        "patches": [{"path": "deployment.yaml"}, {"path": "np.yaml"}, {"path": "secret.yaml"}],
    },
    "deployment.yaml": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "sample"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [
                                {"name": "C", "value": "3"},
                                {"name": "A", "value": "one"},
                                {"name": "B", "value": None},
                            ],
                            "ports": [{"containerPort": 81}],
                            "args": ["z"],
                        },
                        {"name": "sidecar", "image": "example.org/sidecar:1"},
                    ]
                }
            }
        },
    },
    "np.yaml": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "np", "namespace": "sample"},
        "spec": {"egress": [{"to": [{"podSelector": {}}]}]},
    },
    "secret.yaml": {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "sample"},
        "stringData": {"L": "w"},
    },
}


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    _write(tmp_path / "base", SAMPLE_BASE)
    _write(tmp_path / "overlay", SAMPLE_OVERLAY)
    return tmp_path


def test_renderer_implements_the_subset(sample: Path) -> None:
    objects = kustomize.render(sample / "overlay")
    namespace = one(objects, "Namespace", "sample")
    assert namespace["metadata"] == {"name": "sample", "labels": {"team": "x"}}
    deployment = one(objects, "Deployment", "app")
    assert deployment["metadata"] == {"name": "app", "namespace": "sample", "labels": {"team": "x"}}
    assert deployment["spec"]["template"]["metadata"] == {"labels": {"a": "b"}}  # not includeSelectors
    pod = pod_spec(deployment)
    assert pod["initContainers"][0]["image"] == "example.org/app:2.0"
    app, sidecar, db = pod["containers"]
    assert app == {
        "name": "app",
        "image": "example.org/app:2.0",
        "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "one"}, {"name": "B"}],
        "ports": [{"containerPort": 81}, {"containerPort": 80}],
        "args": ["z"],
    }
    assert sidecar == {"name": "sidecar", "image": "example.org/sidecar:1"}
    assert db == {"name": "db", "image": "db.io/db:9"}
    assert one(objects, "NetworkPolicy", "np")["spec"]["egress"] == [{"to": [{"podSelector": {}}]}]
    assert one(objects, "Secret", "s")["stringData"] == {"L": "w"}
    assert one(objects, "Secret", "s")["data"] == {"K": "Vg=="}


@pytest.mark.parametrize(
    ("where", "change", "message"),
    [
        ("base", {"secretGenerator": [{"name": "x"}]}, "unsupported kustomization fields"),
        ("base", {"commonLabels": {"a": "b"}}, "unsupported kustomization fields"),
        ("base", {"configMapGenerator": [{"name": "x", "behavior": "merge"}]}, "configMapGenerator supports"),
        ("base", {"configMapGenerator": [{"name": "x", "files": ["f"]}]}, "configMapGenerator supports"),
        (
            "base",
            {"configMapGenerator": [{"name": "x", "options": {"disableNameSuffixHash": True}}]},
            "options other than labels",
        ),
        ("base", {"configMapGenerator": [{"name": "x", "literals": ["NOVALUE"]}]}, "not KEY=VALUE"),
        ("base", {"configMapGenerator": [{"name": "x", "literals": ["A=1", "A=2"]}]}, "given twice"),
        ("base", {"components": ["../base"]}, "includes it"),
        ("overlay", {"components": ["../base"]}, "where a Component belongs"),
        ("base", {"labels": [{"pairs": {"a": "b"}, "includeSelectors": True}]}, "includeSelectors"),
        ("base", {"labels": [{"pairs": {"a": "b"}, "includeTemplates": True}]}, "only `pairs`"),
        ("base", {"images": [{"name": "x", "newTag": "1", "digest": "sha256:0"}]}, "digest"),
        ("base", {"resources": ["https://example.org/k8s"]}, "neither a file nor a directory"),
        ("base", {"resources": [str(Path(__file__).parent)]}, "absolute"),
        ("overlay", {"patches": [{"path": "np.yaml", "target": {"kind": "NetworkPolicy"}}]}, "only `patches"),
        ("overlay", {"patches": [{"patch": "{}"}]}, "only `patches"),
    ],
)
def test_renderer_refuses_what_it_does_not_implement(
    sample: Path, where: str, change: dict[str, Any], message: str
) -> None:
    path = sample / where / "kustomization.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **change}))
    with pytest.raises(kustomize.Unsupported, match=message):
        kustomize.render(sample / "overlay")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"metadata": {"name": "app"}}, "matches 0 objects"),  # no namespace: kustomize finds nothing either
        ({"spec": {"template": {"spec": {"tolerations": [{"key": "k"}]}}}}, "no merge strategy"),
        ({"spec": {"template": {"spec": {"$patch": "replace"}}}}, "directives"),
    ],
)
def test_renderer_refuses_patches_it_cannot_apply_exactly(sample: Path, patch: dict[str, Any], message: str) -> None:
    document = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "sample"}}
    document = {**document, **patch}
    (sample / "overlay" / "deployment.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(kustomize.Unsupported, match=message):
        kustomize.render(sample / "overlay")


# kustomize's hash suffixes, as `kubectl kustomize` (kustomize v5.5.0) printed them for these ConfigMaps.
GENERATED_ENV = '# comment\n  INDENTED=1\nEQUALS=x=y \nQUOTED="q"\nIMAGE=example.org/app\n\n'
GENERATED_BASE = {
    "kustomization.yaml": {
        "namespace": "sample",
        "resources": ["objects.yaml"],
        "configMapGenerator": [
            {
                "name": "settings",
                "envs": ["settings.env"],
                "literals": ["HTML=<a&b>", "ACCENT='é'"],
                "options": {"labels": {"generated": "yes"}},
            }
        ],
        "configurations": ["kustomizeconfig.yaml"],
        "images": [{"name": "example.org/app", "newTag": "2.0"}],
    },
    "kustomizeconfig.yaml": {
        "nameReference": [{"kind": "ConfigMap", "fieldSpecs": [{"kind": "Job", "path": "metadata/name"}]}],
        "images": [{"kind": "ConfigMap", "path": "data/IMAGE"}],
    },
    "objects.yaml": [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {
                        "initContainers": [
                            {
                                "name": "init",
                                "image": "example.org/app",
                                "envFrom": [{"configMapRef": {"name": "settings"}}],
                            }
                        ],
                        "containers": [
                            {
                                "name": "app",
                                "image": "example.org/app",
                                "env": [
                                    {
                                        "name": "X",
                                        "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "EQUALS"}},
                                    },
                                    {"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "other", "key": "Y"}}},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "v", "configMap": {"name": "settings"}},
                            {"name": "p", "projected": {"sources": [{"configMap": {"name": "settings"}}]}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "settings"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "j", "image": "x"}]}}},
        },
    ],
    "settings.env": None,
}
GENERATED_COMPONENT = {
    "kustomization.yaml": {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": ["extra.yaml"],
        "patches": [{"path": "patches.yaml"}],
    },
    "extra.yaml": {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "extra"},
        "spec": {"ports": [{"port": 1}]},
    },
    "patches.yaml": [  # two patches in one file; the first meets the base's Deployment, already in `sample`
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "namespace": "sample"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "imagePullPolicy": "Always"}]}}},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "sample"},
            "data": {"C": "3"},
        },
    ],
}
GENERATED_OVERLAY = {
    "kustomization.yaml": {
        "resources": ["../base"],
        "components": ["../component"],
        "images": [{"name": "example.org/app", "newName": "local/app", "newTag": "dev"}],
        "patches": [{"path": "patches.yaml"}],
    },
    "patches.yaml": [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "namespace": "sample"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "imagePullPolicy": "Never"}]}}},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "settings", "namespace": "sample"},
            "spec": {"backoffLimit": 2},
        },
    ],
}


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    _write(tmp_path / "base", {k: v for k, v in GENERATED_BASE.items() if v is not None})
    (tmp_path / "base" / "settings.env").write_text(GENERATED_ENV)
    _write(tmp_path / "component", GENERATED_COMPONENT)
    _write(tmp_path / "overlay", GENERATED_OVERLAY)
    return tmp_path


def test_renderer_generates_configmaps_with_kustomizes_hash_and_rewrites_references(generated: Path) -> None:
    base = kustomize.render(generated / "base")
    (config,) = of_kind(base, "ConfigMap").values()
    assert config["data"] == {
        "INDENTED": "1",
        "EQUALS": "x=y ",  # an env file's value is kept as it is, trailing blank and quotes included
        "QUOTED": '"q"',
        "IMAGE": "example.org/app:2.0",  # an image field by configuration
        "HTML": "<a&b>",
        "ACCENT": "é",  # a literal loses its surrounding quotes
    }
    name = "settings-" + kustomize.configmap_hash(config["data"])
    assert config["metadata"] == {"name": name, "namespace": "sample", "labels": {"generated": "yes"}}
    deployment = one(base, "Deployment", "app")
    pod = pod_spec(deployment)
    assert pod["initContainers"][0]["envFrom"] == [{"configMapRef": {"name": name}}]
    assert [v["valueFrom"]["configMapKeyRef"]["name"] for v in pod["containers"][0]["env"]] == [name, "other"]
    assert pod["volumes"][0]["configMap"]["name"] == name
    assert pod["volumes"][1]["projected"]["sources"][0]["configMap"]["name"] == name
    assert one(base, "Job", name)  # a name reference by configuration

    overlay = kustomize.render(generated / "overlay")
    (changed,) = of_kind(overlay, "ConfigMap").values()
    assert changed["data"]["C"] == "3" and changed["data"]["IMAGE"] == "local/app:dev"
    assert changed["metadata"]["name"] == "settings-" + kustomize.configmap_hash(changed["data"]) != name
    assert pod_spec(one(overlay, "Deployment", "app"))["containers"][0]["imagePullPolicy"] == "Never"
    assert one(overlay, "Job", changed["metadata"]["name"])["spec"]["backoffLimit"] == 2
    assert one(overlay, "Service", "extra")["metadata"] == {"name": "extra"}


def test_configmap_hash_is_kustomizes() -> None:
    assert kustomize.configmap_hash({"A": "1"}) == "89g4tffbfk"
    assert kustomize.configmap_hash({"A": "1", "B": "x=y ", "C": '"q"', "IMAGE": "img:2.0"}) == "7chd448mmg"


def test_renderer_refuses_what_it_does_not_implement_in_generators_and_components(generated: Path) -> None:
    env = generated / "base" / "settings.env"
    env.write_text("NO_EQUALS_SIGN\n")
    with pytest.raises(kustomize.Unsupported, match="without `=`"):
        kustomize.render(generated / "base")
    env.write_text(GENERATED_ENV)
    config = generated / "base" / "kustomizeconfig.yaml"
    config.write_text(yaml.safe_dump({"namePrefix": [{"kind": "Job", "path": "metadata/name"}]}))
    with pytest.raises(kustomize.Unsupported, match="only `nameReference` and `images`"):
        kustomize.render(generated / "base")
    config.write_text(yaml.safe_dump({"images": [{"kind": "Job", "path": "spec/containers[]/image"}]}))
    with pytest.raises(kustomize.Unsupported, match="through mappings"):
        kustomize.render(generated / "base")
    config.write_text(yaml.safe_dump(GENERATED_BASE["kustomizeconfig.yaml"]))
    component = generated / "component" / "kustomization.yaml"
    component.write_text(yaml.safe_dump({**GENERATED_COMPONENT["kustomization.yaml"], "namespace": "x"}))
    with pytest.raises(kustomize.Unsupported, match="unsupported component fields"):
        kustomize.render(generated / "overlay")


def test_renderer_refuses_an_overlay_inside_its_base(tmp_path: Path) -> None:
    _write(tmp_path, {"kustomization.yaml": {"resources": ["overlay"]}})
    _write(tmp_path / "overlay", {"kustomization.yaml": {"resources": [".."]}})
    with pytest.raises(kustomize.Unsupported, match="includes it"):
        kustomize.render(tmp_path)


def _canonical(objects: Objects) -> list[str]:
    return sorted(json.dumps(obj, sort_keys=True) for obj in objects)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize(
    "directory",
    [
        "k8s",
        "k8s/secret-template",
        "k8s/overlays/single-instance",
        "k8s/overlays/kind",
        "sample/base",
        "sample/overlay",
        "generated/base",
        "generated/overlay",
    ],
)
def test_renderer_agrees_with_kubectl_kustomize(sample: Path, generated: Path, directory: str) -> None:
    where, _, rest = directory.partition("/")
    path = {"sample": sample, "generated": generated}.get(where, ROOT / where) / rest
    kubectl = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=True, timeout=60
    )
    theirs = [obj for obj in yaml.safe_load_all(kubectl.stdout) if obj is not None]
    assert _canonical(kustomize.render(path)) == _canonical(theirs)
