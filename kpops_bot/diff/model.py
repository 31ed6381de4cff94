"""The diff of a pull request: per pipeline and environment, per component, per resource; the JSON report's schema."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kpops_bot.engine.model import Mode, RenderError


class Status(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    ERROR = "error"


class RiskLevel(StrEnum):
    """Ordered from least to most severe."""

    NOTICE = "notice"
    WARNING = "warning"
    DANGER = "danger"

    @property
    def rank(self) -> int:
        return list(RiskLevel).index(self)


class Risk(BaseModel):
    level: RiskLevel
    code: str = Field(description="Stable name of the check, e.g. partitions-decreased.")
    message: str
    component: str | None = None
    topic: str | None = None


ChangeKind = Literal["added", "removed", "changed"]


class ConfigChange(BaseModel):
    """One changed field of a component's enriched configuration; secret values are masked."""

    path: str
    change: ChangeKind
    old: Any = None
    new: Any = None


class ResourceDiff(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    api_version: str = Field(alias="apiVersion")
    kind: str
    namespace: str | None = None
    name: str
    status: Status
    diff: str = Field(description="Unified diff of the masked YAML, empty when unchanged.")

    @property
    def title(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class ComponentDiff(BaseModel):
    name: str
    type: str
    status: Status
    config_changes: list[ConfigChange] = Field(default_factory=list)
    resources: list[ResourceDiff] = Field(default_factory=list)


class TopologyNode(BaseModel):
    id: str
    label: str
    kind: Literal["component", "topic"]
    type: str | None = Field(default=None, description="Component type, or the topic's role (output, error, ...).")
    status: Status


class TopologyEdge(BaseModel):
    source: str
    target: str


class Topology(BaseModel):
    """Components and the topics between them, at head (plus what the change removes)."""

    nodes: list[TopologyNode] = Field(default_factory=list)
    edges: list[TopologyEdge] = Field(default_factory=list)


class PipelineDiff(BaseModel):
    name: str
    environment: str | None
    status: Status
    pipeline_file: str | None = None
    error: RenderError | None = None
    risks: list[Risk] = Field(default_factory=list)
    components: list[ComponentDiff] = Field(default_factory=list)
    topology: Topology | None = None
    notes: list[str] = Field(default_factory=list)

    def count(self, what: Literal["components", "resources"], status: Status) -> int:
        if what == "components":
            return sum(component.status is status for component in self.components)
        return sum(resource.status is status for component in self.components for resource in component.resources)


class Summary(BaseModel):
    pipelines: dict[Status, int] = Field(default_factory=dict)
    components: dict[Status, int] = Field(default_factory=dict)
    resources: dict[Status, int] = Field(default_factory=dict)
    risks: dict[RiskLevel, int] = Field(default_factory=dict)
    failed: int = 0
    blocking: bool = Field(default=False, description="True when a pipeline failed or a blocking risk was found.")


class KpopsSides(BaseModel):
    """The kpops release that rendered each side; they differ when the change upgrades (or downgrades) kpops."""

    base: str | None
    head: str | None
    migration: list[str] = Field(default_factory=list, description="What the upgrade risks, found in the renders.")

    @property
    def changed(self) -> bool:
        return self.base is not None and self.head is not None and self.base != self.head


class DiffReport(BaseModel):
    base: str = Field(description="The merge base the head is compared with.")
    head: str
    mode: Mode
    environments: list[str | None]
    kpops: KpopsSides | None = None
    blocking_levels: list[RiskLevel] = Field(default_factory=lambda: [RiskLevel.DANGER])
    pipelines: list[PipelineDiff] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)

    @property
    def blocking_risks(self) -> list[tuple[PipelineDiff, Risk]]:
        return [
            (pipeline, risk)
            for pipeline in self.pipelines
            for risk in pipeline.risks
            if risk.level in self.blocking_levels
        ]
