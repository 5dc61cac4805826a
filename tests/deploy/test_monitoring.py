"""k8s/components/monitoring, offline: it renders on top of the base, its PodMonitor and PrometheusRule are valid
for the Prometheus Operator's CRD schemas (trimmed copies in tests/deploy/schemas/), the PodMonitor scrapes the
private port of every service's pods, every PromQL expression of the rules and of the Grafana dashboard parses, and
every metric they name is one documented in docs/operations.md (which tests/resource/test_metrics.py checks against
a live scrape)."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import promql_parser
import pytest
import yaml

from tests.deploy import kustomize

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
MONITORING = K8S / "components" / "monitoring"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
DOC = ROOT / "docs" / "operations.md"
SERVICES = ("authz", "resource", "client-demo")
# The alerts docs/operations.md promises.
ALERTS = {
    "AuthoriumHigh5xxRate",
    "AuthoriumSlowRequests",
    "AuthoriumEventFeedDown",
    "AuthoriumRevocationLag",
    "AuthoriumRefreshTokenReuse",
    "AuthoriumSigningKeyNotRotated",
}
METRIC = re.compile(r"\b((?:authorium|http|process)_[a-z_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def documented_metrics() -> set[str]:
    """The names in the metrics reference table of docs/operations.md (its "Metrics" section)."""
    text = DOC.read_text()
    start = text.index("\n### Metrics\n")
    section = text[start : text.index("\n### ", start + 1)]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


def metric_names(expr: str) -> set[str]:
    names = set()
    for name in METRIC.findall(expr):
        for suffix in HISTOGRAM_SUFFIXES:
            name = name.removesuffix(suffix)
        names.add(name)
    return names


def grafana_to_promql(expr: str) -> str:
    """A dashboard query as Prometheus gets it once Grafana has put in its variables."""
    return expr.replace("$__rate_interval", "5m").replace("$namespace", "authorium")


@pytest.fixture(scope="module")
def with_monitoring(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The base with the component, as an overlay that adds it renders it."""
    overlay = tmp_path_factory.mktemp("overlay")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(K8S / "base", overlay)],
        "components": [os.path.relpath(MONITORING, overlay)],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return kustomize.render(overlay)


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def strict(schema: Any) -> Any:
    """An OpenAPI schema of a CRD as JSON Schema that, like the API server's pruning, admits no unknown field (where
    the schema does not keep them): a misspelt field fails here instead of being dropped silently."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def validate(obj: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / f"{obj['kind'].lower()}.json").read_text())
    assert obj["apiVersion"] == schema["apiVersion"]
    # metadata is the API server's to check (ObjectMeta), not the CRD's.
    body = {k: v for k, v in obj.items() if k != "metadata"}
    # OpenAPI 3.0's schema objects are JSON Schema draft 4's, nearly; the schema itself is not checked, as its Go
    # regular expressions (`^(?i)...`) are not all Python's.
    jsonschema.Draft4Validator(strict(schema["openAPIV3Schema"])).validate(body)


def test_the_component_adds_a_pod_monitor_and_rules_in_the_namespace(with_monitoring: list[dict[str, Any]]) -> None:
    added = [o for o in with_monitoring if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert sorted(o["kind"] for o in added) == ["PodMonitor", "PrometheusRule"]
    assert {o["metadata"]["namespace"] for o in added} == {"authorium"}


@pytest.mark.parametrize("kind", ["PodMonitor", "PrometheusRule"])
def test_objects_are_valid_for_the_prometheus_operator_crds(with_monitoring: list[dict[str, Any]], kind: str) -> None:
    validate(one(with_monitoring, kind))


def test_the_schema_check_catches_a_misspelt_field(with_monitoring: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(one(with_monitoring, "PodMonitor"))
    broken["spec"]["podMetricsEndpoints"][0]["prot"] = broken["spec"]["podMetricsEndpoints"][0].pop("port")
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_the_pod_monitor_scrapes_the_private_port_of_every_service(with_monitoring: list[dict[str, Any]]) -> None:
    monitor = one(with_monitoring, "PodMonitor")["spec"]
    [endpoint] = monitor["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    selector = monitor["selector"]
    for workload in with_monitoring:
        if workload["kind"] not in ("Deployment", "Job"):
            continue
        template = workload["spec"]["template"]
        labels = template["metadata"]["labels"]
        selected = all(labels.get(k) == v for k, v in selector["matchLabels"].items()) and all(
            labels.get(e["key"]) in e["values"] for e in selector["matchExpressions"]
        )
        service = labels.get("app.kubernetes.io/component")
        assert selected == (service in SERVICES), workload["metadata"]["name"]
        if selected:
            ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
            assert endpoint["port"] in ports, service


def rules(with_monitoring: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for group in one(with_monitoring, "PrometheusRule")["spec"]["groups"] for r in group["rules"]]


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_the_promised_alerts_are_there(with_monitoring: list[dict[str, Any]]) -> None:
    assert {r["alert"] for r in rules(with_monitoring)} == ALERTS


def test_every_expression_parses_and_names_only_documented_metrics(with_monitoring: list[dict[str, Any]]) -> None:
    documented = documented_metrics()
    expressions = [r["expr"] for r in rules(with_monitoring)] + [grafana_to_promql(q) for q in dashboard_queries()]
    named = set()
    for expr in expressions:
        promql_parser.parse(expr)  # raises on a syntax error
        named |= metric_names(expr)
    assert named <= documented, named - documented
    # The dashboard has a panel for every documented series.
    assert documented <= {n for q in dashboard_queries() for n in metric_names(q)} | {"process_open_fds"}


def test_a_broken_expression_does_not_parse() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (x) (rate(http_requests_total[5m])")
