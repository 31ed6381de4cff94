"""Kafka connectors in the GitOps modes: what a merge applies of them, and Strimzi `KafkaConnector` resources.

kpops renders no manifest for a Kafka connector in manifest or argo mode (its `KafkaConnector` component implements
none of the `manifest_*` methods): left alone, a merge commits the apps and topics of a pipeline and nothing of its
connectors, although the preview lists their changes. Two answers, chosen per environment (`connectors`):

- `none` (the default) keeps kpops' output exactly, and every report says which connectors a merge does not apply.
- `strimzi` adds, beside kpops' manifests, a `KafkaConnector` (`kafka.strimzi.io/v1beta2`) per connector, made here
  in the bot's process from the enriched configuration the render returned (nothing new runs in the sandbox):
  `strimzi.io/cluster` names the `KafkaConnect` resource (which must say
  `strimzi.io/use-connector-resources: "true"`), `spec.class` and `spec.tasksMax` come from `connector.class` and
  `tasks.max`, the rest of the configuration goes to `spec.config` less what Strimzi forbids there.

A value under a secret-looking key (the masker's rules) is committed only as a config-provider reference
(`${secrets:<namespace>/<secret>:<key>}`, `${file:...}`, `${env:...}`, `${directory:...}`): a literal is left out
of the resource, and the publish that would commit it is refused (`literal_secrets`). Pure: renders in, renders out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpops_bot.engine.kinds import ConnectorDeploy
from kpops_bot.engine.model import ComponentRender, Mode, Operation, PipelineRender
from kpops_bot.masking import Masker

STRIMZI_API_VERSION = "kafka.strimzi.io/v1beta2"
KAFKA_CONNECTOR = "KafkaConnector"
CLUSTER_LABEL = "strimzi.io/cluster"
CONNECTOR_TYPES = frozenset({"kafka-sink-connector", "kafka-source-connector"})
# Strimzi refuses these in `spec.config`: they have fields of their own, or are the resource's name.
_NOT_IN_CONFIG = ("name", "connector.class", "tasks.max", "connector.plugin.version")
# Kafka Connect's config providers Strimzi documents: Kubernetes Secrets, files, variables, directories.
_PROVIDER_REFERENCE = re.compile(r"^\$\{(secrets|file|env|directory):[^}]+\}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

__all__ = ["ConnectorDeploy", "ConnectorKeys", "ConnectorPolicy", "ConnectorSetup", "with_connectors"]


@dataclass(frozen=True)
class ConnectorSetup:
    """One environment's choice: how connectors are deployed, to which KafkaConnect, in which namespace."""

    deploy: ConnectorDeploy = ConnectorDeploy.NONE
    cluster: str | None = None
    namespace: str | None = None

    @property
    def strimzi(self) -> bool:
        return self.deploy is ConnectorDeploy.STRIMZI


@dataclass(frozen=True)
class ConnectorPolicy:
    """The choice for every environment: a default and environments that differ."""

    default: ConnectorSetup = field(default_factory=ConnectorSetup)
    environments: Mapping[str, ConnectorSetup] = field(default_factory=dict)

    def for_environment(self, environment: str | None) -> ConnectorSetup:
        return self.environments.get(environment or "", self.default)

    def problem(self) -> str | None:
        """Why this policy cannot work, or None: Strimzi needs the KafkaConnect's name."""
        for name, setup in [("", self.default), *self.environments.items()]:
            if setup.strimzi and setup.cluster is None:
                where = f" (environment {name})" if name else ""
                return f"connectors: strimzi{where} needs connect_cluster: the name of the KafkaConnect resource"
        return None


class ConnectorTarget(BaseModel):
    """The settings' keys (server settings, `.kpops-bot.yaml`, one environment's entry); unset keys inherit."""

    model_config = ConfigDict(extra="forbid")

    connectors: ConnectorDeploy | None = Field(
        default=None, description="none: kpops' output (connectors not deployed); strimzi: a KafkaConnector each."
    )
    connect_cluster: str | None = Field(default=None, description="Name of the KafkaConnect resource (strimzi).")
    connect_namespace: str | None = Field(
        default=None, description="Namespace of the KafkaConnect (default: the GitOps controller's namespace)."
    )

    @field_validator("connect_cluster")
    @classmethod
    def _cluster_name(cls, name: str | None) -> str | None:
        if name is not None and not _DNS_SUBDOMAIN.match(name):
            raise ValueError(f"connect_cluster {name!r} is not a Kubernetes name (lower case, digits, '-', '.')")
        return name

    @field_validator("connect_namespace")
    @classmethod
    def _namespace_name(cls, name: str | None) -> str | None:
        if name is not None and not _DNS_LABEL.match(name):
            raise ValueError(f"connect_namespace {name!r} is not a Kubernetes namespace (lower case, digits, '-')")
        return name

    def over(self, setup: ConnectorSetup) -> ConnectorSetup:
        """`setup` with what these keys set."""
        return ConnectorSetup(
            deploy=self.connectors or setup.deploy,
            cluster=self.connect_cluster or setup.cluster,
            namespace=self.connect_namespace or setup.namespace,
        )


class RepoConnectorKeys(ConnectorTarget):
    """The top-level keys, with `connectors_by_environment` for environments that differ (`.kpops-bot.yaml`)."""

    connectors_by_environment: dict[str, ConnectorTarget] = Field(
        default_factory=dict, description="kpops environment → connector keys that differ from the top-level ones."
    )

    def policy(self, over: ConnectorPolicy | None = None) -> ConnectorPolicy:
        """These keys over `over` (the server's policy, for a repository's file): the top-level keys over each of its
        environments, then the environments named here."""
        below = over or ConnectorPolicy()
        default = self.over(below.default)
        names = set(below.environments) | set(self.connectors_by_environment)
        environments = {
            name: self.connectors_by_environment.get(name, ConnectorTarget()).over(
                self.over(below.environments.get(name, below.default))
            )
            for name in names
        }
        return ConnectorPolicy(default, environments)


class ConnectorKeys(RepoConnectorKeys):
    """The server's keys: complete on their own, so Strimzi's needs a KafkaConnect name."""

    @model_validator(mode="after")
    def _a_cluster_for_strimzi(self) -> ConnectorKeys:
        problem = self.policy().problem()
        if problem is not None:
            raise ValueError(problem)
        return self


def is_connector(component: ComponentRender) -> bool:
    """A Kafka connector: kpops' own types, or a custom type that carries a connector's `config`."""
    config = component.config.get("config")
    return component.type in CONNECTOR_TYPES or (isinstance(config, dict) and "connector.class" in config)


def connector_name(component: ComponentRender) -> str:
    """The connector's name in Kafka Connect: kpops' `config.name` (prefixed with the pipeline)."""
    config = component.config.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return str(name or f"{component.config.get('prefix', '')}{component.name}")


def kafka_connector(component: ComponentRender, setup: ConnectorSetup, masker: Masker | None = None) -> dict[str, Any]:
    """The `KafkaConnector` of a connector component; a literal secret value is left out (see `literal_secrets`)."""
    config = component.config.get("config")
    config = dict(config) if isinstance(config, dict) else {}
    literal = set(literal_secrets(component, masker))
    metadata: dict[str, Any] = {"name": connector_name(component)}
    if setup.namespace:
        metadata["namespace"] = setup.namespace
    metadata["labels"] = {CLUSTER_LABEL: setup.cluster or ""}
    spec: dict[str, Any] = {"class": config.get("connector.class")}
    if "tasks.max" in config:
        spec["tasksMax"] = _integer(config["tasks.max"])
    if "connector.plugin.version" in config:
        spec["version"] = str(config["connector.plugin.version"])
    spec["config"] = {key: value for key, value in config.items() if key not in _NOT_IN_CONFIG and key not in literal}
    return {"apiVersion": STRIMZI_API_VERSION, "kind": KAFKA_CONNECTOR, "metadata": metadata, "spec": spec}


def literal_secrets(component: ComponentRender, masker: Masker | None = None) -> list[str]:
    """The connector's configuration keys that look secret and hold a value, not a config-provider reference."""
    masker = masker or Masker()
    config = component.config.get("config")
    if not is_connector(component) or not isinstance(config, dict):
        return []
    return sorted(
        str(key)
        for key, value in config.items()
        if masker.is_secret_key(key)
        and value not in (None, "")
        and not (isinstance(value, str) and _PROVIDER_REFERENCE.match(value.strip()))
    )


def with_connectors(render: PipelineRender, setup: ConnectorSetup, masker: Masker | None = None) -> PipelineRender:
    """The render with a KafkaConnector in each connector's manifests (deploy under `strimzi`); else as it is."""
    if not setup.strimzi or render.operation is not Operation.DEPLOY or render.error is not None:
        return render
    components = [
        component.model_copy(update={"manifests": [*component.manifests, kafka_connector(component, setup, masker)]})
        if is_connector(component)
        else component
        for component in render.components
    ]
    notes = [
        literal_secret_note(component.name, key)
        for component in render.components
        for key in literal_secrets(component, masker)
    ]
    return render.model_copy(update={"components": components, "notes": [*render.notes, *notes]})


def literal_secret_note(component: str, key: str) -> str:
    """Why a key is missing from a KafkaConnector, and what to write instead."""
    return (
        f"connector `{component}`: `{key}` holds a literal secret, left out of its KafkaConnector: write it as a "
        "config-provider reference (`${secrets:<namespace>/<secret>:<key>}`, `${file:...}`, `${env:...}`, "
        "`${directory:...}`); a pipeline with a literal secret is not published"
    )


def _integer(value: Any) -> Any:
    """`tasks.max` as the integer Strimzi wants; anything else stays as it is (validation names it)."""
    text = str(value).strip()
    return int(text) if text.isdigit() else value


@dataclass(frozen=True)
class Applied:
    """Whether the configured mode puts a component's operation into effect, and why not when it does not."""

    applied: bool
    reason: str | None = None


_VERB = {
    Operation.DEPLOY: "deployed",
    Operation.DESTROY: "removed",
    Operation.RESET: "reset",
    Operation.CLEAN: "cleaned",
}


def applied(
    component: ComponentRender,
    operation: Operation,
    mode: Mode | None,
    setup: ConnectorSetup,
) -> Applied:
    """What a merge or command does to `component` in `mode` (None: managed mode, where kpops runs everything)."""
    if mode is None:
        return Applied(True)
    named = f"`{component.name}` ({component.type})"
    verb = _VERB[operation]
    if is_connector(component):
        return _connector_applied(component, named, operation, mode, setup)
    if operation is Operation.DEPLOY and not component.manifests:
        return Applied(False, f"not {verb} in {mode} mode: {named} — kpops renders no manifest for it")
    return Applied(True)


def _connector_applied(
    component: ComponentRender, named: str, operation: Operation, mode: Mode, setup: ConnectorSetup
) -> Applied:
    verb = _VERB[operation]
    if operation in (Operation.DEPLOY, Operation.DESTROY):
        if setup.strimzi:
            return Applied(True)
        return Applied(
            False,
            f"not {verb} in {mode} mode: {named} — kpops renders no manifest for connectors; set "
            "`connectors: strimzi` to deploy it as a KafkaConnector",
        )
    return Applied(False, f"not {verb} in {mode} mode: {named} — {_operator_steps(component, operation, setup)}")


def _operator_steps(component: ComponentRender, operation: Operation, setup: ConnectorSetup) -> str:
    """What kpops' managed mode would do to the connector, which the operator must do, and how with Strimzi."""
    name = connector_name(component)
    sink = component.type != "kafka-source-connector"
    offsets = f"the offsets of consumer group `connect-{name}`" if sink else "its offsets in Kafka Connect"
    todo = f"reset {offsets}"
    if operation is Operation.CLEAN:
        todo += " and delete that group and its error topics" if sink else " and delete its output topics"
    if not setup.strimzi:
        return (
            "kpops renders nothing for connectors (managed mode does it through Kafka Connect's REST API); "
            f"the operator must {todo}"
        )
    where = f" -n {setup.namespace}" if setup.namespace else ""
    return (
        f"the bot commits no offset reset for connectors; the operator must {todo}: with Strimzi, stop it "
        f"(`spec.state: stopped` in KafkaConnector `{name}`), run `kubectl annotate kafkaconnector {name}{where} "
        "strimzi.io/connector-offsets=reset`, then set `spec.state: running` again"
    )


def refused_literal_secrets(found: Sequence[tuple[str, str]]) -> str:
    """The answer to a publish that would commit secrets in clear: (connector, key) pairs; nothing is written."""
    named = ", ".join(f"`{key}` of connector `{component}`" for component, key in found)
    return (
        f"refused: {named} holds a literal secret, which a KafkaConnector would commit in clear; nothing of this "
        "pipeline was committed. Write it as a config-provider reference (`${secrets:<namespace>/<secret>:<key>}`, "
        "`${file:...}`, `${env:...}`, `${directory:...}`) enabled in the KafkaConnect's `config.providers`"
    )
