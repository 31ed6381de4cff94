"""What the API server would reject: rendered manifests against Kubernetes' schemas and Strimzi's CRDs, offline.

Kubernetes' schemas are kubernetes-validate's (one folder per Kubernetes version). Its `validate` loads the 1.3 MB
definitions file for every document and stops at the first problem, so the validators are built here from its
schema files once per kind and version, and every problem is listed.

KafkaTopic and KafkaConnector are checked against Strimzi's own CRDs: the `openAPIV3Schema` of each version a
release serves, kept in `schemas/strimzi-<release>-<kind>.json` with the repository, tag, commit and file it was
taken from (`scripts/strimzi-schemas` writes them). Release 0.51.0 is the last that serves `v1beta2`, the version
kpops renders, besides `v1`. As the API server does, null values are pruned before a custom resource is validated
(apiextensions.k8s.io/v1: a field without `nullable: true` drops a null), and the object's name must be a DNS
subdomain. Kinds neither knows (other CRDs) are not checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import referencing
from kubernetes_validate import utils as kubernetes_schemas

DEFAULT_KUBERNETES_VERSION = "1.31"
_STRIMZI_GROUP = "kafka.strimzi.io"
STRIMZI_RELEASE = "0.51.0"
_STRIMZI_KINDS = ("KafkaTopic", "KafkaConnector")
_MAX_PER_RESOURCE = 5
# What the API server asks of every object's name (a DNS subdomain), which a CRD's schema does not say.
_OBJECT_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "maxLength": 253, "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}},
}


@dataclass(frozen=True)
class Violation:
    """One reason the API server would refuse a manifest: the field (dotted path) and what is wrong with it."""

    kind: str
    name: str
    field: str
    message: str
    value: Any = None
    path: tuple[str | int, ...] = ()
    rule: str = ""  # the schema keyword that failed and its value, for a message that must not show the value

    def describe(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.kind} `{self.name}`: {where}{self.message}"


def violations(manifest: dict[str, Any], kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> list[Violation]:
    kind = str(manifest.get("kind") or "")
    api_version = str(manifest.get("apiVersion") or "")
    name = str((manifest.get("metadata") or {}).get("name") or "?")
    validator = _validator(kind, api_version, kubernetes_version)
    if validator is None:
        return []
    if api_version.partition("/")[0] == _STRIMZI_GROUP:
        manifest = _pruned(manifest)
    errors = sorted(validator.iter_errors(manifest), key=lambda error: list(error.absolute_path))
    return [
        Violation(
            kind=kind,
            name=name,
            field=".".join(str(part) for part in error.absolute_path),
            message=_shorten(error.message),
            value=error.instance if not isinstance(error.instance, dict | list) else None,
            path=tuple(error.absolute_path),
            rule=f"{error.validator}: {_shorten(json.dumps(error.validator_value, default=str), 80)}",
        )
        for error in errors[:_MAX_PER_RESOURCE]
    ]


def supported(kubernetes_version: str) -> bool:
    try:
        _schema_folder(kubernetes_version)
    except ValueError:
        return False
    return True


@cache
def _validator(kind: str, api_version: str, kubernetes_version: str) -> jsonschema.protocols.Validator | None:
    group, _, version = api_version.partition("/")
    if group == _STRIMZI_GROUP:
        return _strimzi_validator(kind, version)
    folder = _schema_folder(kubernetes_version)
    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 → rbac-v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = _load(f"{folder}/{kind.lower()}-{group_version}.json")
    except FileNotFoundError:
        return None
    loaded = _load(f"{folder}/_definitions.json")
    definitions = referencing.Resource.from_contents(loaded)
    schema = _Inlined(loaded["$defs"]).schema(schema, frozenset())
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(schema) @ referencing.Registry()
    return jsonschema.Draft202012Validator(schema, registry=definitions @ registry)


class _Inlined:
    """A kind's schema with the definitions it refers to put in place, once, so that validating does not resolve
    a `$ref` (a registry lookup and a new resolver) at every object of every manifest: that was most of the time
    spent validating. `{"$ref": X, ...}` becomes `{"allOf": [X], ...}` at the same place, which reports the same
    errors in the same order; a definition that refers to itself keeps its `$ref`, made absolute (it now sits in
    the kind's document, whose base differs)."""

    _DATA_KEYWORDS = frozenset({"enum", "const", "default", "example", "examples"})

    def __init__(self, definitions: dict[str, Any]) -> None:
        self._definitions = definitions
        self._done: dict[str, Any] = {}

    def schema(self, node: Any, within: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [self.schema(item, within) for item in node]
        if not isinstance(node, dict):
            return node
        inlined: dict[str, Any] = {}
        for key, value in node.items():
            name = _definition(value) if key == "$ref" and "allOf" not in node else None
            if name is None:
                inlined[key] = value if key in self._DATA_KEYWORDS else self.schema(value, within)
            elif name in within or name not in self._definitions:
                inlined[key] = f"{_DEFINITIONS_ID}#/$defs/{name}"
            else:
                inlined["allOf"] = [self._definition(name, within)]
        return inlined

    def _definition(self, name: str, within: frozenset[str]) -> Any:
        if name not in self._done:
            self._done[name] = self.schema(self._definitions[name], within | {name})
        return self._done[name]


_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_DEFINITION_REF = re.compile(r"^(?:https://kubernetes\.io)?(?:/api/_definitions\.json)?#/\$defs/([^/]+)$")


def _definition(ref: Any) -> str | None:
    """The definition's name a kubernetes-validate `$ref` names."""
    match = _DEFINITION_REF.match(ref) if isinstance(ref, str) else None
    return match[1] if match else None


def _schema_folder(kubernetes_version: str) -> str:
    wanted = _major_minor(kubernetes_version.removeprefix("v"))
    known = [v for v in kubernetes_schemas.all_versions() if _major_minor(v) <= wanted]
    if not known:
        raise ValueError(f"no Kubernetes schemas for version {kubernetes_version}")
    return f"v{known[-1]}-local"


def _major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"^(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match[1]), int(match[2])


def _load(relative: str) -> Any:
    path = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", *relative.split("/"))
    return json.loads(path.read_text(encoding="utf-8"))


def _strimzi_validator(kind: str, version: str) -> jsonschema.protocols.Validator | None:
    """The CRD's schema of that version; a version the release does not serve accepts only the ones it does."""
    if kind not in _STRIMZI_KINDS:
        return None
    versions = strimzi_crd(kind)["versions"]
    schema = versions.get(version)
    if schema is None:
        served = [f"{_STRIMZI_GROUP}/{name}" for name in versions]
        return jsonschema.Draft202012Validator({"properties": {"apiVersion": {"enum": served}}})
    properties = {**schema.get("properties", {}), "metadata": _OBJECT_METADATA}
    return jsonschema.Draft202012Validator({**schema, "properties": properties})


@cache
def strimzi_crd(kind: str) -> dict[str, Any]:
    """Strimzi's CRD of `kind` as kept: origin, release, commit, file and each served version's openAPIV3Schema."""
    name = f"strimzi-{STRIMZI_RELEASE}-{kind.lower()}.json"
    loaded: dict[str, Any] = json.loads(
        resources.files("kpops_bot.diff").joinpath("schemas", name).read_text(encoding="utf-8")
    )
    return loaded


def _pruned(value: Any) -> Any:
    """Without null values, as the API server prunes them from a custom resource before validating it."""
    if isinstance(value, dict):
        return {key: _pruned(child) for key, child in value.items() if child is not None}
    if isinstance(value, list):
        return [_pruned(child) for child in value]
    return value


def _shorten(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
