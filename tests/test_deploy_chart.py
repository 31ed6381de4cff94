"""The bot's Helm chart (deploy/helm/kpops-bot) rendered with the project's Helm SDK and checked against the
Kubernetes schemas: what a platform team installs must be valid and must wire the bot as the README says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "kpops-bot"
KUBERNETES_VERSION = "1.30"
# Custom resources have no schema in Kubernetes' own set.
CUSTOM_KINDS = {"ServiceMonitor"}


def render(values: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The chart's resources by (kind, name), each validated against the Kubernetes schema."""
    files = helm_python.Chart.load(CHART).render(values, name="bot", namespace="platform", is_install=True)
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    for name, text in files.items():
        if name.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            if document["kind"] not in CUSTOM_KINDS:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            resources[(document["kind"], document["metadata"]["name"])] = document
    return resources


def container(resources: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = resources[("Deployment", "bot-kpops-bot")]["spec"]["template"]["spec"][
        "containers"
    ]
    return containers[0]


def env(resources: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container(resources)["env"]}


def test_defaults_one_replica_with_sqlite_on_a_volume() -> None:
    resources = render({})
    kinds = sorted(kind for kind, _ in resources)
    assert kinds == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"]
    deployment = resources[("Deployment", "bot-kpops-bot")]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "bot-kpops-bot"
    settings = yaml.safe_load(resources[("ConfigMap", "bot-kpops-bot")]["data"]["bot.yaml"])
    assert settings == {"data_dir": "/data", "host": "0.0.0.0", "port": 8080}
    assert container(resources)["args"] == ["serve", "--config", "/etc/kpops-bot/bot.yaml"]
    # Liveness restarts a process whose workers are dead or stuck; readiness takes it out while it cannot work.
    assert container(resources)["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container(resources)["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert env(resources) == {"KPOPS_BOT_SANDBOX": "namespaces"}


def test_postgresql_several_replicas_secrets_ingress_and_monitoring() -> None:
    resources = render(
        {
            "replicaCount": 3,
            "database": {"existingSecret": "bot-db"},
            "secrets": {"existingSecret": "bot-keys"},
            "settings": {"repositories": ["acme/*"], "github": {"app_id": 42}, "port": 9999},
            "ingress": {"enabled": True, "host": "bot.acme.example", "className": "nginx"},
            "serviceMonitor": {"enabled": True},
        }
    )
    assert ("PersistentVolumeClaim", "bot-kpops-bot") not in resources
    deployment = resources[("Deployment", "bot-kpops-bot")]
    assert deployment["spec"]["replicas"] == 3
    assert "strategy" not in deployment["spec"]
    variables = env(resources)
    assert variables["KPOPS_BOT_DATABASE_URL"] == {"secretKeyRef": {"name": "bot-db", "key": "database-url"}}
    assert variables["KPOPS_BOT_GITHUB__TOKEN"]["secretKeyRef"] == {
        "name": "bot-keys",
        "key": "github-token",
        "optional": True,
    }
    assert "KPOPS_BOT_GITLAB__WEBHOOK_SECRET" in variables
    settings = yaml.safe_load(resources[("ConfigMap", "bot-kpops-bot")]["data"]["bot.yaml"])
    assert settings["github"] == {"app_id": 42}
    assert settings["port"] == 8080, "the chart decides where the bot listens: the Service points there"
    paths = resources[("Ingress", "bot-kpops-bot")]["spec"]["rules"][0]["http"]["paths"]
    assert [path["path"] for path in paths] == ["/webhooks"]
    assert resources[("ServiceMonitor", "bot-kpops-bot")]["spec"]["endpoints"][0]["path"] == "/metrics"


def test_security_context_follows_the_sandbox_layer() -> None:
    strongest = render({})
    pod = strongest[("Deployment", "bot-kpops-bot")]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    assert container(strongest)["securityContext"]["procMount"] == "Unmasked"
    restricted = render({"sandbox": {"layer": "off"}})
    pod = restricted[("Deployment", "bot-kpops-bot")]["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "procMount" not in container(restricted)["securityContext"]


def test_settings_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = render(values)[("Deployment", "bot-kpops-bot")]
        annotation: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/settings"]
        return annotation

    assert checksum({}) != checksum({"settings": {"operation_mode": "argo"}})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": 2}, "replicaCount > 1 needs PostgreSQL"),
        ({"sandbox": {"layer": "chroot"}}, "sandbox.layer must be"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=message):
        render(values)
