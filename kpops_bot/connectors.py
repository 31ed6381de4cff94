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

Reset and clean under `strimzi` commit, beside kpops' Jobs, a one-off Job per connector that resets its offsets
through Strimzi's documented mechanism (`offsets_reset`); what no Kubernetes resource can do (delete a consumer
group, a topic kpops deploys) the answer leaves to the operator, by name (`applied`).

A value under a secret-looking key (the masker's rules) is committed only as a config-provider reference
(`${secrets:<namespace>/<secret>:<key>}`, `${file:...}`, `${env:...}`, `${directory:...}`): a literal is left out
of the resource, and the publish that would commit it is refused (`literal_secrets`). Pure: renders in, renders out.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpops_bot.masking import Masker
from kpops_bot.model.flux import FLUX_APPLY_POLICY, FLUX_CREATE_ONCE
from kpops_bot.model.kinds import ConnectorDeploy
from kpops_bot.model.render import ComponentRender, Mode, Operation, PipelineRender
from kpops_bot.names import environment_problem

CONNECTOR_TYPES = frozenset({"kafka-sink-connector", "kafka-source-connector"})  # kpops' connector components
STRIMZI_API_VERSION = "kafka.strimzi.io/v1beta2"
KAFKA_CONNECTOR = "KafkaConnector"
CLUSTER_LABEL = "strimzi.io/cluster"
# Strimzi refuses these in `spec.config`: they have fields of their own, or are the resource's name.
_NOT_IN_CONFIG = ("name", "connector.class", "tasks.max", "connector.plugin.version")
# Kafka Connect's config providers Strimzi documents: Kubernetes Secrets, files, variables, directories.
_PROVIDER_REFERENCE = re.compile(r"^\$\{(secrets|file|env|directory):[^}]+\}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# The image of the one-off Job that resets a connector's offsets through Strimzi: it needs `kubectl` and `sh`.
DEFAULT_JOB_IMAGE = "docker.io/alpine/k8s:1.32.4"
OFFSETS_ANNOTATION = "strimzi.io/connector-offsets"
_NAME_LIMIT = 63  # a Job's name labels its pods
_RESET_WAIT = "600s"

__all__ = ["ConnectorDeploy", "ConnectorKeys", "ConnectorPolicy", "ConnectorSetup", "with_connectors"]


@dataclass(frozen=True)
class ConnectorSetup:
    """One environment's choice: how connectors are deployed, to which KafkaConnect, in which namespace."""

    deploy: ConnectorDeploy = ConnectorDeploy.NONE
    cluster: str | None = None
    namespace: str | None = None
    job_image: str = DEFAULT_JOB_IMAGE

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
    connect_job_image: str | None = Field(
        default=None, description=f"Image (with kubectl and sh) of the offsets-reset Job; default {DEFAULT_JOB_IMAGE}."
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
            job_image=self.connect_job_image or setup.job_image,
        )


class RepoConnectorKeys(ConnectorTarget):
    """The top-level keys, with `connectors_by_environment` for environments that differ (`.kpops-bot.yaml`)."""

    connectors_by_environment: dict[str, ConnectorTarget] = Field(
        default_factory=dict, description="kpops environment → connector keys that differ from the top-level ones."
    )

    @field_validator("connectors_by_environment")
    @classmethod
    def _environment_names(cls, mapping: dict[str, ConnectorTarget]) -> dict[str, ConnectorTarget]:
        for name in mapping:
            problem = environment_problem(name)
            if problem is not None:
                raise ValueError(problem)
        return mapping

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
    """The connector's configuration keys whose value looks secret by the masker's rules (a secret-looking key, a
    value the bot holds, credentials in a URL, a `password=` line) and is not a config-provider reference."""
    masker = masker or Masker()
    config = component.config.get("config")
    if not is_connector(component) or not isinstance(config, dict):
        return []
    return sorted(
        str(key)
        for key, value in config.items()
        if value not in (None, "")
        and not (isinstance(value, str) and _PROVIDER_REFERENCE.match(value.strip()))
        and (masker.is_secret_key(key) or masker.mask_text(str(value)) != str(value))
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
    name = connector_name(component)
    sink = component.type != "kafka-source-connector"
    offsets = f"the offsets of consumer group `connect-{name}`" if sink else "its offsets in Kafka Connect"
    rest = "delete that group and its error topics" if sink else "delete its output topics"
    if not setup.strimzi:
        todo = f"reset {offsets}" + (f" and {rest}" if operation is Operation.CLEAN else "")
        return Applied(
            False,
            f"not {verb} in {mode} mode: {named} — kpops renders nothing for connectors (managed mode does it "
            f"through Kafka Connect's REST API); the operator must {todo}; set `connectors: strimzi` to have the "
            "bot commit the offsets reset",
        )
    if operation is Operation.RESET:
        return Applied(True)
    return Applied(
        False,
        f"cleaned only partly in {mode} mode: {named} — the committed offsets-reset Job resets {offsets} through "
        f"Strimzi; no Kubernetes resource deletes a consumer group or a topic kpops deploys, so the operator must "
        f"still {rest}",
    )


def destroy_leaves(pipeline: str, mode: Mode, setup: ConnectorSetup) -> str | None:
    """What removing a pipeline's folder leaves running (without KafkaConnectors, its connectors); None: nothing.
    A destroy does not render, so the connectors are not named."""
    if setup.strimzi:
        return None
    return (
        f"not removed in {mode} mode: the connectors of `{pipeline}`, if it has any — kpops renders no manifest for "
        "connectors, so they stay in Kafka Connect until deleted there; set `connectors: strimzi` to deploy them as "
        "KafkaConnectors, which a destroy removes"
    )


def offsets_job_name(connector: str, run_id: str) -> str:
    suffix = f"-offsets-reset-{run_id}"
    return connector[: _NAME_LIMIT - len(suffix)].rstrip("-.") + suffix


def offsets_reset(component: ComponentRender, setup: ConnectorSetup, run_id: str) -> list[dict[str, Any]]:
    """The one-off resources that reset a connector's offsets once, through Strimzi's documented mechanism: a Job
    stops the KafkaConnector (`spec.state: stopped`), annotates it `strimzi.io/connector-offsets: reset`, waits
    until Strimzi has done it (the operator removes the annotation) and takes `spec.state` away again (running).

    The state and the annotation are set by the Job, never committed: neither is in the KafkaConnector in Git, so
    Argo CD (three-way diff) and Flux (server-side apply, fields of another manager) leave them alone, while a
    committed annotation would be put back after Strimzi removed it, resetting again and again. The Job is named
    for the run and made to run once like kpops' reset Jobs (no TTL, created once by Flux, `layout.py`); its
    ServiceAccount may only read, watch and patch KafkaConnectors.
    """
    connector = connector_name(component)
    name = offsets_job_name(connector, run_id)
    namespace = {"namespace": setup.namespace} if setup.namespace else {}
    once = {FLUX_APPLY_POLICY: FLUX_CREATE_ONCE}
    labels = {"app.kubernetes.io/managed-by": "kpops-bot", "kpops-bot/connector": connector[:_NAME_LIMIT]}
    metadata = {"name": name, **namespace, "labels": labels, "annotations": once}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata,
        "rules": [
            {
                "apiGroups": ["kafka.strimzi.io"],
                "resources": ["kafkaconnectors"],
                "resourceNames": [connector],
                "verbs": ["get", "watch", "patch"],
            },
            # `kubectl wait` lists and watches by name; resourceNames cannot restrict list
            {"apiGroups": ["kafka.strimzi.io"], "resources": ["kafkaconnectors"], "verbs": ["list", "watch"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, **namespace}],
    }
    container = {"name": "reset", "image": setup.job_image, "command": ["sh", "-c", _reset_script(connector)]}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"serviceAccountName": name, "restartPolicy": "Never", "containers": [container]},
            },
        },
    }
    return [account, role, binding, job]


def offsets_reset_note(component: ComponentRender, run_id: str) -> str:
    """What the committed offsets reset of a connector does, for the command's answer."""
    connector = connector_name(component)
    return (
        f"Job `{offsets_job_name(connector, run_id)}` stops KafkaConnector `{connector}` (`spec.state: stopped`), "
        f"resets its offsets through Strimzi (`{OFFSETS_ANNOTATION}: reset`, Kafka Connect's offsets API), waits "
        "until Strimzi is done and starts it again; it runs once."
    )


def kubernetes_name_problem(component: ComponentRender) -> str | None:
    """Why the connector's name cannot name a KafkaConnector (and a Job's shell command), or None when it can."""
    name = connector_name(component)
    if _DNS_SUBDOMAIN.match(name):
        return None
    return f"connector `{component.name}`: its name {name!r} is not a Kubernetes name (lower case, digits, '-', '.')"


def _reset_script(connector: str) -> str:
    """Stop, reset, resume, each step waited for. The name is checked as a Kubernetes name before (no character
    sh would read), and quoted all the same."""
    resource = shlex.quote(f"kafkaconnector/{connector}")
    annotation = OFFSETS_ANNOTATION.replace(".", "\\.")
    return "\n".join(
        [
            "set -eu",
            f'kubectl patch {resource} --type merge -p \'{{"spec":{{"state":"stopped"}}}}\'',
            f"kubectl wait {resource} --timeout={_RESET_WAIT} "
            "--for=jsonpath='{.status.connectorStatus.connector.state}'=STOPPED",
            f"kubectl annotate --overwrite {resource} {OFFSETS_ANNOTATION}=reset",
            f"until [ -z \"$(kubectl get {resource} -o jsonpath='{{.metadata.annotations.{annotation}}}')\" ]; "
            "do sleep 5; done",
            f'kubectl patch {resource} --type json -p \'[{{"op":"remove","path":"/spec/state"}}]\'',
        ]
    )


def refused_literal_secrets(found: Sequence[tuple[str, str]]) -> str:
    """The answer to a publish that would commit secrets in clear: (connector, key) pairs; nothing is written."""
    named = ", ".join(f"`{key}` of connector `{component}`" for component, key in found)
    return (
        f"refused: {named} holds a literal secret, which a KafkaConnector would commit in clear; nothing of this "
        "pipeline was committed. Write it as a config-provider reference (`${secrets:<namespace>/<secret>:<key>}`, "
        "`${file:...}`, `${env:...}`, `${directory:...}`) enabled in the KafkaConnect's `config.providers`"
    )
