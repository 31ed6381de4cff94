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

import dataclasses
import hashlib
import importlib.util
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

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


# What the checks stored with a render depend on besides its manifests: a new schema set or rule makes them anew.
CHECKS_FORMAT = 1


@cache
def checks_name(kubernetes_version: str) -> str:
    """The name of the checks made against this Kubernetes version with the schemas at hand."""
    release = metadata.version("kubernetes-validate")
    return f"manifest-checks/{CHECKS_FORMAT}/k8s-{kubernetes_version}/strimzi-{STRIMZI_RELEASE}/kv-{release}"


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The manifest's content, as one short digest: what its stored checks are found by."""
    text = json.dumps(manifest, ensure_ascii=False, default=repr)  # never fails: NaN and non-JSON have a text
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def checked(manifests: Iterable[dict[str, Any]], kubernetes_version: str) -> dict[str, list[dict[str, Any]]]:
    """The violations of each manifest by digest, as JSON, to be stored with its render."""
    return {
        manifest_digest(manifest): [dataclasses.asdict(found) for found in violations(manifest, kubernetes_version)]
        for manifest in manifests
    }


@dataclass(frozen=True)
class ManifestChecks:
    """Violations found when the manifests were rendered (stored with them: `checked`), by content; a manifest
    not among them is validated now."""

    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    known: Mapping[str, Sequence[Violation]] = field(default_factory=dict)

    @classmethod
    def of(cls, kubernetes_version: str, stored: Iterable[Mapping[str, list[dict[str, Any]]]]) -> ManifestChecks:
        """Checks as the render cache stored them; one that no longer reads as a `Violation` (a field added without
        a new `CHECKS_FORMAT`) is left out, and its manifest validated again."""
        known: dict[str, list[Violation]] = {}
        for checks in stored:
            for digest, each in checks.items():
                try:
                    known[digest] = [Violation(**{**found, "path": tuple(found["path"])}) for found in each]
                except (TypeError, KeyError):
                    continue
        return cls(kubernetes_version, known)

    def violations(self, manifest: dict[str, Any]) -> list[Violation]:
        found = self.known.get(manifest_digest(manifest)) if self.known else None
        return list(found) if found is not None else violations(manifest, self.kubernetes_version)


def supported(kubernetes_version: str) -> bool:
    try:
        _schema_folder(kubernetes_version)
    except ValueError:
        return False
    return True


@cache
def _validator(kind: str, api_version: str, kubernetes_version: str) -> jsonschema.protocols.Validator | None:
    # Imported here: a diff whose renders were checked when they were made (`ManifestChecks`) needs neither.
    import jsonschema
    import referencing

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
    known = [v for v in _schema_versions() if _major_minor(v) <= wanted]
    if not known:
        raise ValueError(f"no Kubernetes schemas for version {kubernetes_version}")
    return f"v{known[-1]}-local"


@cache
def _schema_versions() -> list[str]:
    """kubernetes-validate's `all_versions()`, read without importing it (it imports jsonschema at once)."""
    from packaging.version import Version

    names = [entry.name for entry in _schemas_root().iterdir()]
    return sorted((_SCHEMA_FOLDER.sub(r"\1", name) for name in names if _SCHEMA_FOLDER.match(name)), key=Version)


_SCHEMA_FOLDER = re.compile(r"^v([^-]*).*")


@cache
def _schemas_root() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("kubernetes-validate is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def _major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"^(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match[1]), int(match[2])


def _load(relative: str) -> Any:
    return json.loads(_schemas_root().joinpath(*relative.split("/")).read_text(encoding="utf-8"))


def _strimzi_validator(kind: str, version: str) -> jsonschema.protocols.Validator | None:
    """The CRD's schema of that version; a version the release does not serve accepts only the ones it does."""
    import jsonschema

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
