"""A minimal kustomize renderer for exactly the subset k8s/ uses, so the manifests can be checked offline.

Supported kustomization fields: `apiVersion`, `kind`, `namespace`, `resources` (files and directories holding a
kustomization.yaml), `components` (directories holding a `kind: Component`, with `resources` and `patches`),
`configMapGenerator` (`name`, `envs`, `literals`, `options.labels`; always with a content-hash suffix),
`configurations` (transformer configurations: `nameReference` to ConfigMaps, `images` fields), `labels` (`pairs`,
with `includeSelectors: false`), `images` (`name`, `newName`, `newTag`, `digest`) and `patches` (strategic-merge
patch files given by `path`, one or more documents each). Anything else raises `Unsupported`, so the renderer
cannot silently diverge from kustomize; tests/deploy/test_kubernetes.py compares it with `kubectl kustomize`
wherever kubectl is installed.

Each kustomization runs in kustomize's order: its resources are accumulated (bases rendered first, their
transformer configurations merged in), then its own configurations, then its components (each adds its resources
and patches everything accumulated so far), then its generators, then its transformers (patches, namespace,
labels, images) over everything. Only once the top kustomization is done do generated ConfigMaps get their hash
suffix, and are the references to them rewritten (the pod fields kustomize knows, plus the configured ones).

Strategic merge follows the Kubernetes patch strategies of the fields listed in `_LIST_RULES`: merged lists are
matched by their merge key, the patch's items first in the patch's order and then the remaining original items;
other lists are replaced; a null deletes; a list at a path not in `_LIST_RULES`, or a `$patch`-style directive,
raises `Unsupported`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZATION = ("kustomize.config.k8s.io/v1beta1", "Kustomization")
COMPONENT = ("kustomize.config.k8s.io/v1alpha1", "Component")
SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "namespace",
        "resources",
        "components",
        "configMapGenerator",
        "configurations",
        "labels",
        "images",
        "patches",
    }
)
COMPONENT_FIELDS = frozenset({"apiVersion", "kind", "resources", "patches"})

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
        # The Prometheus Operator's, for k8s/components/monitoring.
        "PodMonitor",
        "PrometheusRule",
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
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].envFrom")] = None
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].ports")] = "containerPort"
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].volumeMounts")] = "mountPath"
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].command")] = None
        _LIST_RULES[(_kind, f"{_POD}.{_containers}[].args")] = None
    _LIST_RULES[(_kind, f"{_POD}.volumes")] = "name"
_LIST_RULES[("Service", "spec.ports")] = "port"
_LIST_RULES[("NetworkPolicy", "spec.ingress")] = None
_LIST_RULES[("NetworkPolicy", "spec.egress")] = None
_LIST_RULES[("NetworkPolicy", "spec.policyTypes")] = None

# Marks a generated ConfigMap until its hash suffix is added; removed from the output.
_NEEDS_HASH = "renderer.invalid/needs-hash-suffix"
# kubectl's validation of env-file and literal keys (IsEnvVarName, IsConfigMapKey).
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class Unsupported(ValueError):
    """The kustomization uses something this renderer does not implement."""


@dataclass
class TransformerConfig:
    """The parts of kustomize's transformer configuration (`configurations:`) this renderer implements."""

    # (referring kind, path) fields that name a ConfigMap, besides the pod fields kustomize always knows.
    configmap_references: list[tuple[str, str]] = field(default_factory=list)
    # (kind, path) fields that hold an image reference, besides containers' `image`.
    image_fields: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, other: TransformerConfig) -> None:
        for mine, theirs in (
            (self.configmap_references, other.configmap_references),
            (self.image_fields, other.image_fields),
        ):
            mine.extend(spec for spec in theirs if spec not in mine)


def render(directory: str | Path) -> list[dict[str, Any]]:
    """Every object `kubectl kustomize directory` would output (in accumulation order, not kustomize's)."""
    objects, config = _render(Path(directory).resolve(), (), KUSTOMIZATION)
    _add_hash_suffixes(objects, config)
    return objects


def _render(
    directory: Path, visiting: tuple[Path, ...], expected: tuple[str, str]
) -> tuple[list[dict[str, Any]], TransformerConfig]:
    # As kustomize: a directory may not include one it contains (or itself), e.g. an overlay below its base.
    if any(directory == seen or directory in seen.parents for seen in visiting):
        raise Unsupported(f"{directory}: contains a kustomization that includes it")
    kustomization = _load_kustomization(directory, expected)
    objects: list[dict[str, Any]] = []
    config = TransformerConfig()
    _accumulate(kustomization, directory, (*visiting, directory), objects, config)

    for entry in kustomization.get("configurations") or []:
        config.merge(_load_configuration(directory / entry))
    for entry in kustomization.get("components") or []:
        target = (directory / entry).resolve()
        if not target.is_dir():
            raise Unsupported(f"{directory}: component {entry!r} is not a directory")
        _apply_component(target, (*visiting, directory), objects, config)
    for generator in kustomization.get("configMapGenerator") or []:
        objects.append(_generate_configmap(generator, directory))
    _check_unique(objects, directory)

    for patch_entry in kustomization.get("patches") or []:
        _apply_patch_entry(objects, patch_entry, directory)
    if "namespace" in kustomization:
        _set_namespace(objects, kustomization["namespace"])
    for label_entry in kustomization.get("labels") or []:
        _add_labels(objects, label_entry)
    for image_entry in kustomization.get("images") or []:
        _set_images(objects, image_entry, config)
    _check_unique(objects, directory)
    return objects, config


def _accumulate(
    kustomization: dict[str, Any],
    directory: Path,
    visiting: tuple[Path, ...],
    objects: list[dict[str, Any]],
    config: TransformerConfig,
) -> None:
    for entry in kustomization.get("resources") or []:
        if Path(entry).is_absolute():
            raise Unsupported(f"{directory}: resource {entry!r} is absolute (kustomize refuses it)")
        target = (directory / entry).resolve()
        if target.is_dir():
            sub_objects, sub_config = _render(target, visiting, KUSTOMIZATION)
            objects += sub_objects
            config.merge(sub_config)
        elif target.is_file():
            objects += _load_objects(target)
        else:
            raise Unsupported(
                f"{directory}: resource {entry!r} is neither a file nor a directory (URLs are not supported)"
            )
    _check_unique(objects, directory)


def _apply_component(
    directory: Path, visiting: tuple[Path, ...], objects: list[dict[str, Any]], config: TransformerConfig
) -> None:
    """A component adds its resources to what its user accumulated, then patches all of it."""
    if any(directory == seen or directory in seen.parents for seen in visiting):
        raise Unsupported(f"{directory}: contains a kustomization that includes it")
    component = _load_kustomization(directory, COMPONENT)
    _accumulate(component, directory, (*visiting, directory), objects, config)
    for patch_entry in component.get("patches") or []:
        _apply_patch_entry(objects, patch_entry, directory)


def _load_kustomization(directory: Path, expected: tuple[str, str]) -> dict[str, Any]:
    found = [directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()]
    if len(found) != 1:
        raise Unsupported(f"{directory}: expected exactly one kustomization file, found {len(found)}")
    data = yaml.safe_load(found[0].read_text())
    if not isinstance(data, dict):
        raise Unsupported(f"{found[0]}: not a mapping")
    api_version, kind = expected
    if data.get("kind", KUSTOMIZATION[1]) != kind:
        raise Unsupported(f"{directory}: kind {data.get('kind', KUSTOMIZATION[1])!r} where a {kind} belongs")
    if data.get("apiVersion", api_version) != api_version:
        raise Unsupported(f"{directory}: apiVersion {data['apiVersion']!r}")
    unknown = set(data) - (SUPPORTED_FIELDS if expected == KUSTOMIZATION else COMPONENT_FIELDS)
    if unknown:
        raise Unsupported(f"{directory}: unsupported {kind.lower()} fields {sorted(unknown)}")
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


# Transformer configurations


def _load_configuration(path: Path) -> TransformerConfig:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not set(data) <= {"nameReference", "images"}:
        raise Unsupported(f"{path}: only `nameReference` and `images` configurations are supported")
    config = TransformerConfig()
    for reference in data.get("nameReference") or []:
        if set(reference) != {"kind", "fieldSpecs"} or reference["kind"] != "ConfigMap":
            raise Unsupported(f"{path}: only name references to a ConfigMap (`kind`, `fieldSpecs`) are supported")
        config.configmap_references += [_field_spec(spec, path) for spec in reference["fieldSpecs"]]
    config.image_fields += [_field_spec(spec, path) for spec in data.get("images") or []]
    return config


def _field_spec(spec: Any, path: Path) -> tuple[str, str]:
    if not isinstance(spec, dict) or set(spec) != {"kind", "path"} or "[" in spec["path"]:
        raise Unsupported(f"{path}: only field specs `{{kind, path}}` with a path through mappings are supported")
    return spec["kind"], spec["path"]


def _lookup(obj: dict[str, Any], path: str) -> tuple[dict[str, Any], str] | None:
    """The mapping holding the field at `path` (`a/b/c`) and the field's name, if the field is there."""
    *parents, name = path.split("/")
    node: Any = obj
    for step in parents:
        node = node.get(step) if isinstance(node, dict) else None
    return (node, name) if isinstance(node, dict) and name in node else None


# Generators and their hash suffixes


def _generate_configmap(generator: Any, directory: Path) -> dict[str, Any]:
    if not isinstance(generator, dict) or not set(generator) <= {"name", "envs", "literals", "options"}:
        raise Unsupported(f"{directory}: configMapGenerator supports name, envs, literals and options, not {generator}")
    options = generator.get("options") or {}
    if not set(options) <= {"labels"}:
        raise Unsupported(f"{directory}: configMapGenerator options other than labels are not supported")
    pairs = [pair for env in generator.get("envs") or [] for pair in _env_file(directory / env)]
    pairs += [_literal(literal, directory) for literal in generator.get("literals") or []]
    data: dict[str, str] = {}
    for key, value in pairs:
        if key in data:
            raise Unsupported(f"{directory}: configMapGenerator {generator['name']}: key {key} given twice")
        data[key] = value
    metadata: dict[str, Any] = {"name": generator["name"], "annotations": {_NEEDS_HASH: "true"}}
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _env_file(path: Path) -> list[tuple[str, str]]:
    """kustomize's reading of an env file: leading blanks dropped, `#` lines and blank lines skipped, KEY=VALUE
    split at the first `=`, the value kept as it is (quotes and trailing blanks included)."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        line = (line.removeprefix("\ufeff") if number == 0 else line).lstrip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:  # kustomize versions disagree on a line without a value
            raise Unsupported(f"{path}:{number + 1}: a line without `=`")
        key, value = line.split("=", 1)
        if not _ENV_VAR_NAME.match(key):
            raise Unsupported(f"{path}:{number + 1}: {key!r} is not an environment variable name")
        pairs.append((key, value))
    return pairs


def _literal(literal: str, directory: Path) -> tuple[str, str]:
    key, sep, value = literal.partition("=")
    if not sep or not key or not _ENV_VAR_NAME.match(key):
        raise Unsupported(f"{directory}: literal {literal!r} is not KEY=VALUE")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":  # kustomize drops surrounding quotes
        value = value[1:-1]
    return key, value


def configmap_hash(data: dict[str, str]) -> str:
    """kustomize's name suffix for a ConfigMap with `data`: the SHA-256 of a JSON encoding, its first ten hex digits
    with 0, 1, 3, a and e swapped for letters that make no words. kustomize looks the name up under a path it
    never finds, so its encoding always holds an empty name, and so does this one."""
    encoded = json.dumps(
        {"data": data, "kind": "ConfigMap", "name": ""}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    # Go's encoder writes non-ASCII as it is, as above, but escapes these (for HTML).
    for char in "<>&\u2028\u2029":
        encoded = encoded.replace(char, f"\\u{ord(char):04x}")
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _add_hash_suffixes(objects: list[dict[str, Any]], config: TransformerConfig) -> None:
    renamed: dict[tuple[str | None, str], str] = {}
    for obj in objects:
        metadata = obj.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        if annotations.pop(_NEEDS_HASH, None) is None:
            continue
        if not annotations:
            del metadata["annotations"]
        new_name = f"{metadata['name']}-{configmap_hash(obj.get('data') or {})}"
        renamed[(metadata.get("namespace"), metadata["name"])] = new_name
        metadata["name"] = new_name
    for obj in objects:
        namespace = (obj.get("metadata") or {}).get("namespace")
        for holder, key in _configmap_references(obj, config):
            hashed = renamed.get((namespace, holder[key]))
            if hashed is not None:
                holder[key] = hashed


def _configmap_references(obj: dict[str, Any], config: TransformerConfig) -> list[tuple[dict[str, Any], str]]:
    """(mapping, key) of every field of `obj` that names a ConfigMap."""
    found = []
    pod_path = _POD_SPEC_PATHS.get(obj["kind"])
    if pod_path is not None:
        pod: Any = obj
        for step in pod_path:
            pod = (pod or {}).get(step)
        pod = pod or {}
        for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            for var in container.get("env") or []:
                ref = (var.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and "name" in ref:
                    found.append((ref, "name"))
            for source in container.get("envFrom") or []:
                ref = source.get("configMapRef")
                if ref and "name" in ref:
                    found.append((ref, "name"))
        for volume in pod.get("volumes") or []:
            projected = (volume.get("projected") or {}).get("sources") or []
            refs = [volume.get("configMap"), *(source.get("configMap") for source in projected)]
            found += [(ref, "name") for ref in refs if ref and "name" in ref]
    for kind, path in config.configmap_references:
        if obj["kind"] == kind and (field_ := _lookup(obj, path)) is not None:
            found.append(field_)
    return found


# Patches


def _apply_patch_entry(objects: list[dict[str, Any]], entry: Any, directory: Path) -> None:
    if not isinstance(entry, dict) or set(entry) != {"path"}:
        raise Unsupported(f"{directory}: only `patches: [{{path: ...}}]` is supported, not {entry!r}")
    path = directory / entry["path"]
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    if not documents or not all(isinstance(d, dict) and "kind" in d for d in documents):
        raise Unsupported(f"{path}: a patch file holds strategic-merge patches (JSON 6902 is not supported)")
    for patch in documents:
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


def _set_images(objects: list[dict[str, Any]], entry: Any, config: TransformerConfig) -> None:
    if not isinstance(entry, dict) or "name" not in entry or not set(entry) <= {"name", "newName", "newTag", "digest"}:
        raise Unsupported(f"images: only name, newName, newTag and digest are supported, not {entry!r}")
    if "newTag" in entry and "digest" in entry:
        raise Unsupported("images: newTag together with digest is not supported")
    for obj in objects:
        fields: list[tuple[dict[str, Any], str]] = []
        pod_path = _POD_SPEC_PATHS.get(obj["kind"])
        if pod_path is not None:
            pod: Any = obj
            for step in pod_path:
                pod = (pod or {}).get(step)
            for container_field in ("containers", "initContainers"):
                fields += [(c, "image") for c in (pod or {}).get(container_field) or [] if "image" in c]
        for kind, path in config.image_fields:
            if obj["kind"] == kind and (found := _lookup(obj, path)) is not None:
                fields.append(found)
        for holder, key in fields:
            holder[key] = _new_image(holder[key], entry)


def _new_image(image: Any, entry: dict[str, Any]) -> Any:
    match = _IMAGE_RE.match(image) if isinstance(image, str) else None
    if match is None or match["name"] != entry["name"]:
        return image
    name, tag, digest = match["name"], match["tag"], match["digest"]
    name = entry.get("newName", name)
    if "newTag" in entry:
        tag, digest = str(entry["newTag"]), None
    if "digest" in entry:
        tag, digest = None, entry["digest"]
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
