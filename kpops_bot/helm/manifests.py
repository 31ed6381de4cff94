"""Turn rendered chart templates into the stream `helm template` prints.

Helm drops partials and NOTES.txt, splits every template into documents, orders them by kind in its install
order (unknown kinds last, alphabetically; ties keep their file order) and prints hooks after the manifests,
each document as `---`, `# Source: <template path>`, then the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from kpops_bot.yaml_text import load_yaml

INSTALL_ORDER = (
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
    "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
    "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)  # fmt: skip
_KIND_RANK = {kind: rank for rank, kind in enumerate(INSTALL_ORDER)}
_DOCUMENT_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")
_HOOK_ANNOTATION = "helm.sh/hook"


class TemplateParseError(ValueError):
    """A rendered template that is not valid YAML, reported as helm does."""


@dataclass(frozen=True)
class _Document:
    source: str
    content: str
    kind: str
    hook: str | None

    def sort_key(self) -> tuple[int, str]:
        rank = _KIND_RANK.get(self.kind)
        return (len(INSTALL_ORDER), self.kind) if rank is None else (rank, "")


def render_template_output(rendered: dict[str, str], *, skip_tests: bool = False) -> str:
    """The stdout of `helm template` for templates rendered by helm-python-sdk."""
    manifests: list[_Document] = []
    hooks: list[_Document] = []
    for source in sorted(rendered):
        name = PurePosixPath(source).name
        if name.startswith("_") or name == "NOTES.txt":
            continue
        for document in _split(rendered[source]):
            parsed = _parse(source, document)
            if skip_tests and parsed.hook and "test" in parsed.hook:
                continue
            (hooks if parsed.hook else manifests).append(parsed)
    ordered = sorted(manifests, key=_Document.sort_key) + sorted(hooks, key=_Document.sort_key)
    return "".join(f"---\n# Source: {doc.source}\n{doc.content}\n" for doc in ordered)


def _split(text: str) -> list[str]:
    return [document.strip() for document in _DOCUMENT_SEPARATOR.split(text.strip()) if document.strip()]


def _parse(source: str, document: str) -> _Document:
    try:
        head = load_yaml(document)
    except yaml.YAMLError as error:
        msg = f"YAML parse error on {source}: {error}"
        raise TemplateParseError(msg) from error
    if not isinstance(head, dict):
        return _Document(source, document, "", None)
    metadata = head.get("metadata") or {}
    annotations = metadata.get("annotations") or {} if isinstance(metadata, dict) else {}
    hook = annotations.get(_HOOK_ANNOTATION) if isinstance(annotations, dict) else None
    return _Document(source, document, str(head.get("kind", "")), hook)
