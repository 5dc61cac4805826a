"""A minimal kustomize renderer for exactly the subset k8s/ uses, so the manifests can be checked offline.

Supported kustomization fields: `apiVersion`, `kind`, `namespace`, `resources` (files and directories holding a
kustomization.yaml), `labels` (`pairs`, with `includeSelectors: false`), `images` (`name`, `newName`, `newTag`,
`digest`) and `patches` (strategic-merge patch files given by `path`). Anything else raises `Unsupported`, so the
renderer cannot silently diverge from kustomize; tests/deploy/test_kubernetes.py compares it with
`kubectl kustomize` wherever kubectl is installed.

Transformers run in kustomize's order (patches, namespace, labels, images) over everything a kustomization
accumulated, its bases' output included. Strategic merge follows the Kubernetes patch strategies of the fields
listed in `_LIST_RULES`: merged lists are matched by their merge key, the patch's items first in the patch's
order and then the remaining original items; other lists are replaced; a null deletes; a list at a path not in
`_LIST_RULES`, or a `$patch`-style directive, raises `Unsupported`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "namespace", "resources", "labels", "images", "patches"})

# Kinds this renderer knows, with whether they are namespaced; any other kind raises.
NAMESPACED_KINDS = frozenset(
    {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    }
)
CLUSTER_KINDS = frozenset({"Namespace"})

_POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
}

# (kind, path of the list with "[]" for "any item of") -> merge key, or None where the list is replaced whole.
_POD = "spec.template.spec"
_LIST_RULES: dict[tuple[str, str], str | None] = {}
for _kind in _POD_SPEC_PATHS:
    for _containers in ("containers", "initContainers"):
        _LIST_RULES[(_kind, f"{_POD}.{_containers}")] = "name"
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].env")] = "name"
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].ports")] = "containerPort"
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].volumeMounts")] = "mountPath"
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].command")] = None
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].args")] = None
    _LIST_RULES[(_kind, f"{_POD}.volumes")] = "name"
_LIST_RULES[("Service", "spec.ports")] = "port"
_LIST_RULES[("NetworkPolicy", "spec.ingress")] = None
_LIST_RULES[("NetworkPolicy", "spec.egress")] = None
_LIST_RULES[("NetworkPolicy", "spec.policyTypes")] = None


class Unsupported(ValueError):
    """The kustomization uses something this renderer does not implement."""


def render(directory: str | Path) -> list[dict[str, Any]]:
    """Every object `kubectl kustomize directory` would output (in accumulation order, not kustomize's)."""
    return _render(Path(directory).resolve(), ())


def _render(directory: Path, visiting: tuple[Path, ...]) -> list[dict[str, Any]]:
    # As kustomize: a directory may not include one it contains (or itself), e.g. an overlay below its base.
    if any(directory == seen or directory in seen.parents for seen in visiting):
        raise Unsupported(f"{directory}: contains a kustomization that includes it")
    kustomization = _load_kustomization(directory)
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise Unsupported(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    if kustomization.get("apiVersion", "kustomize.config.k8s.io/v1beta1") != "kustomize.config.k8s.io/v1beta1":
        raise Unsupported(f"{directory}: apiVersion {kustomization['apiVersion']!r}")
    if kustomization.get("kind", "Kustomization") != "Kustomization":
        raise Unsupported(f"{directory}: kind {kustomization['kind']!r}")

    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources") or []:
        if Path(entry).is_absolute():
            raise Unsupported(f"{directory}: resource {entry!r} is absolute (kustomize refuses it)")
        target = (directory / entry).resolve()
        if target.is_dir():
            objects += _render(target, (*visiting, directory))
        elif target.is_file():
            objects += _load_objects(target)
        else:
            raise Unsupported(
                f"{directory}: resource {entry!r} is neither a file nor a directory (URLs are not supported)"
            )
    _check_unique(objects, directory)

    for patch_entry in kustomization.get("patches") or []:
        _apply_patch_entry(objects, patch_entry, directory)
    if "namespace" in kustomization:
        _set_namespace(objects, kustomization["namespace"])
    for label_entry in kustomization.get("labels") or []:
        _add_labels(objects, label_entry)
    for image_entry in kustomization.get("images") or []:
        _set_images(objects, image_entry)
    _check_unique(objects, directory)
    return objects


def _load_kustomization(directory: Path) -> dict[str, Any]:
    found = [directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()]
    if len(found) != 1:
        raise Unsupported(f"{directory}: expected exactly one kustomization file, found {len(found)}")
    data = yaml.safe_load(found[0].read_text())
    if not isinstance(data, dict):
        raise Unsupported(f"{found[0]}: not a mapping")
    return data


def _load_objects(path: Path) -> list[dict[str, Any]]:
    objects = []
    for document in yaml.safe_load_all(path.read_text()):
        if document is None:
            continue
        if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
            raise Unsupported(f"{path}: a document that is not a Kubernetes object")
        kind = document["kind"]
        if kind not in NAMESPACED_KINDS | CLUSTER_KINDS:
            raise Unsupported(f"{path}: kind {kind} is unknown to this renderer")
        objects.append(document)
    return objects


def _object_id(obj: dict[str, Any]) -> tuple[str, str, str, str | None]:
    metadata = obj.get("metadata") or {}
    return obj["apiVersion"], obj["kind"], metadata.get("name", ""), metadata.get("namespace")


def _check_unique(objects: list[dict[str, Any]], directory: Path) -> None:
    seen = set()
    for obj in objects:
        key = _object_id(obj)
        if key in seen:
            raise Unsupported(f"{directory}: {key} appears twice")
        seen.add(key)


# Patches


def _apply_patch_entry(objects: list[dict[str, Any]], entry: Any, directory: Path) -> None:
    if not isinstance(entry, dict) or set(entry) != {"path"}:
        raise Unsupported(f"{directory}: only `patches: [{{path: ...}}]` is supported, not {entry!r}")
    path = directory / entry["path"]
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise Unsupported(f"{path}: a patch file must hold one strategic-merge patch (JSON 6902 is not supported)")
    patch = documents[0]
    patch_id = _object_id(patch)
    matches = [obj for obj in objects if _object_id(obj) == patch_id]
    if len(matches) != 1:
        raise Unsupported(f"{path}: patch {patch_id} matches {len(matches)} objects, not exactly one")
    target = matches[0]
    merged = _merge(target, patch, target["kind"], "")
    target.clear()
    target.update(merged)


def _merge(original: Any, patch: Any, kind: str, path: str) -> Any:
    if isinstance(patch, dict):
        directives = [key for key in patch if isinstance(key, str) and key.startswith("$")]
        if directives:
            raise Unsupported(f"{kind} {path}: strategic-merge directives {directives} are not supported")
        if not isinstance(original, dict):
            return _without_nulls(patch)
        result = copy.deepcopy(original)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            else:
                child = f"{path}.{key}" if path else key
                result[key] = _merge(original.get(key), value, kind, child)
        return result
    if isinstance(patch, list):
        rule_path = re.sub(r"\[[^\]]*\]", "[]", path)
        if (kind, rule_path) not in _LIST_RULES:
            raise Unsupported(f"{kind} {path}: no merge strategy known for this list")
        key = _LIST_RULES[(kind, rule_path)]
        if key is None or not isinstance(original, list):
            return _without_nulls(patch)
        return _merge_list(original, patch, key, kind, path)
    return patch


def _merge_list(original: list[Any], patch: list[Any], key: str, kind: str, path: str) -> list[Any]:
    if not all(isinstance(item, dict) and key in item for item in [*original, *patch]):
        raise Unsupported(f"{kind} {path}: every item needs its merge key {key!r}")
    by_key = {item[key]: item for item in original}
    patched_keys = [item[key] for item in patch]
    if len(set(patched_keys)) != len(patched_keys):
        raise Unsupported(f"{kind} {path}: the patch repeats a {key!r}")
    merged = [_merge(by_key.get(item[key]), item, kind, f"{path}[{item[key]}]") for item in patch]
    return merged + [copy.deepcopy(item) for item in original if item[key] not in set(patched_keys)]


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# Namespace, labels, images


def _set_namespace(objects: list[dict[str, Any]], namespace: str) -> None:
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        if obj["kind"] == "Namespace":
            metadata["name"] = namespace  # kustomize renames Namespace objects to the kustomization's namespace
        elif obj["kind"] in NAMESPACED_KINDS:
            metadata["namespace"] = namespace


def _add_labels(objects: list[dict[str, Any]], entry: Any) -> None:
    if not isinstance(entry, dict) or not set(entry) <= {"pairs", "includeSelectors"}:
        raise Unsupported(f"labels: only `pairs` and `includeSelectors` are supported, not {entry!r}")
    if entry.get("includeSelectors", False) is not False:
        raise Unsupported("labels: includeSelectors: true is not supported")
    pairs = entry.get("pairs") or {}
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


_IMAGE_RE = re.compile(r"^(?P<name>[^@]+?)(?::(?P<tag>[^:/@]+))?(?:@(?P<digest>.+))?$")


def _set_images(objects: list[dict[str, Any]], entry: Any) -> None:
    if not isinstance(entry, dict) or "name" not in entry or not set(entry) <= {"name", "newName", "newTag", "digest"}:
        raise Unsupported(f"images: only name, newName, newTag and digest are supported, not {entry!r}")
    if "newTag" in entry and "digest" in entry:
        raise Unsupported("images: newTag together with digest is not supported")
    for obj in objects:
        pod_path = _POD_SPEC_PATHS.get(obj["kind"])
        if pod_path is None:
            continue
        pod: Any = obj
        for step in pod_path:
            pod = (pod or {}).get(step)
        for field in ("containers", "initContainers"):
            for container in (pod or {}).get(field) or []:
                match = _IMAGE_RE.match(container.get("image", ""))
                if match is None or match["name"] != entry["name"]:
                    continue
                name, tag, digest = match["name"], match["tag"], match["digest"]
                name = entry.get("newName", name)
                if "newTag" in entry:
                    tag, digest = str(entry["newTag"]), None
                if "digest" in entry:
                    tag, digest = None, entry["digest"]
                container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
