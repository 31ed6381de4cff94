"""What differs between kpops majors for a render: where things live and what a release can render.

The render child and the fork server run inside the environment of the repository's kpops release and ask
this module how to speak to it. kpops 9 brought operation modes (`generate(operation_mode=...)` and each
component's `manifest_<operation>`); kpops 8 had one manifest code path (`component.manifest()`, what
`kpops manifest` printed: the deploy manifests of Helm apps). kpops 11 moved the Helm wrapper; kpops 8 and 9
refuse a Helm whose major is not 3.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpops_bot.model.kinds import Mode, Operation

# What the built-in helm says it is to a kpops that accepts only Helm 3: it renders `helm template` as Helm 3
# does (same template engine and chart loader), and kpops only reads the major and minor of this answer.
HELM_3_VERSION = "v3.18.0+kpops-bot"


@dataclass(frozen=True)
class Dialect:
    major: int

    @classmethod
    def of(cls, version: str) -> Dialect:
        return cls(int(version.split(".", 1)[0]))

    @property
    def has_operation_modes(self) -> bool:
        return self.major >= 9

    @property
    def has_component_generate(self) -> bool:
        """kpops 10 gave components `generate()`; before, `kpops generate` dumped the pipeline model."""
        return self.major >= 10

    @property
    def registry_module(self) -> str:
        return "kpops.core.registry" if self.has_operation_modes else "kpops.api.registry"

    @property
    def helm_module(self) -> str:
        return (
            "kpops.component_handlers.helm.helm" if self.major >= 11 else "kpops.component_handlers.helm_wrapper.helm"
        )

    @property
    def accepts_only_helm_3(self) -> bool:
        return self.major < 10

    def cannot_render(self, version: str, mode: Mode, operation: Operation) -> str | None:
        """Why this release cannot render `mode` / `operation`, or None."""
        if self.has_operation_modes:
            return None
        if mode is Mode.ARGO:
            return f"kpops {version} has no argo mode (operation modes came with kpops 9); render in manifest mode"
        if operation is not Operation.DEPLOY:
            return (
                f"kpops {version} renders the manifests of deploy only (its `kpops manifest`); "
                f"{operation.value} manifests came with kpops 9"
            )
        return None
