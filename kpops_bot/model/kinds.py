"""The engine's choices as plain enums, importable without pydantic: the command line builds its options from
them before it knows which command runs."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """kpops operation modes that render manifests without touching a cluster."""

    MANIFEST = "manifest"
    ARGO = "argo"


class OperationMode(StrEnum):
    MANAGED = "managed"  # kpops drives Helm and Kafka itself
    MANIFEST = "manifest"  # rendered manifests, deployed by a GitOps controller
    ARGO = "argo"  # manifests with Argo CD hooks

    @property
    def render_mode(self) -> Mode:
        """How a preview renders: managed deploys what manifest mode shows."""
        return Mode.ARGO if self is OperationMode.ARGO else Mode.MANIFEST


class Operation(StrEnum):
    DEPLOY = "deploy"
    RESET = "reset"
    CLEAN = "clean"
    DESTROY = "destroy"


class HelmChoice(StrEnum):
    AUTO = "auto"
    BUILTIN = "builtin"
    BINARY = "binary"


class SandboxChoice(StrEnum):
    """Which isolation renders and managed kpops runs get; `auto` takes the strongest available."""

    AUTO = "auto"
    NAMESPACES = "namespaces"
    UID = "uid"
    OFF = "off"


class ConnectorDeploy(StrEnum):
    """How the GitOps modes deploy Kafka connectors (`connectors.py`)."""

    NONE = "none"  # kpops' output as it is: connectors are not deployed
    STRIMZI = "strimzi"  # a KafkaConnector per connector, for Strimzi's operator
