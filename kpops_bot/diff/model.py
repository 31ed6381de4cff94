"""The diff of a pull request: per pipeline and environment, per component, per resource; the JSON report's schema."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

from kpops_bot.model.render import Mode, RenderError
from kpops_bot.sources import SourceLocation


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
    field: str | None = Field(
        default=None,
        description="The field it is about: in the component's configuration, or in the manifest when one is invalid.",
    )
    value: str | None = Field(default=None, description="The offending value, when the risk is about one.")
    source: SourceLocation | None = Field(default=None, description="Where the repository sets it, at head.")
    rule: str | None = Field(default=None, description="The policy rule that found it (`package.rule`), code `policy`.")
    at_base: bool = Field(
        default=False,
        description="The merge base has it too: not this change's doing, so it neither counts nor blocks.",
    )
    _path: tuple[str | int, ...] = PrivateAttr(default=())


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
    def diff_lines(self) -> tuple[int, int]:
        """Lines the unified diff adds and removes."""
        lines = self.diff.splitlines()
        return sum(line.startswith("+") for line in lines), sum(line.startswith("-") for line in lines)

    @property
    def title(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class ConfigField(BaseModel):
    """One leaf of an added or removed component's enriched configuration; secret values are masked."""

    path: str
    value: Any = None


class ComponentDiff(BaseModel):
    name: str
    type: str
    status: Status
    config_changes: list[ConfigChange] = Field(default_factory=list)
    config: list[ConfigField] = Field(
        default_factory=list,
        description="The whole enriched configuration of an added (at head) or removed (at base) component.",
    )
    resources: list[ResourceDiff] = Field(default_factory=list)
    applied: bool = Field(
        default=True, description="Whether the configured mode puts this component's change into effect."
    )
    reason: str | None = Field(default=None, description="Why the configured mode does not apply it.")

    @property
    def lines_changed(self) -> tuple[int, int]:
        """Lines added and removed: the resources' diff lines, and a line per configuration field otherwise."""
        added = sum(r.diff_lines[0] for r in self.resources)
        removed = sum(r.diff_lines[1] for r in self.resources)
        if self.status is Status.ADDED and not self.resources:
            added += len(self.config)
        elif self.status is Status.REMOVED and not self.resources:
            removed += len(self.config)
        elif self.status is Status.CHANGED and not any(r.status is not Status.UNCHANGED for r in self.resources):
            added += sum(change.change != "removed" for change in self.config_changes)
            removed += sum(change.change != "added" for change in self.config_changes)
        return added, removed


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


class Neighbour(BaseModel):
    """A component of another pipeline on a topic the change touches."""

    pipeline: str
    component: str
    direction: Literal["reads", "writes"]
    pattern: str | None = Field(default=None, description="The input pattern through which it reads the topic.")
    sides: list[Literal["base", "head"]] = Field(description="Whether it is on the topic before the change, after.")


class TopicImpact(BaseModel):
    """A topic the pipeline's change adds, removes or changes, and the other pipelines on it."""

    topic: str
    status: Status
    neighbours: list[Neighbour] = Field(default_factory=list)


class ChangeSize(BaseModel):
    """Lines a change adds and removes: manifest diff lines, and configuration fields of what renders none."""

    added: int = 0
    removed: int = 0


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
    impact: list[TopicImpact] = Field(
        default_factory=list, description="Other pipelines reading or writing the topics this change touches."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def size(self) -> ChangeSize:
        """The size of the change, `+added -removed`, as the summary line shows it."""
        sizes = [component.lines_changed for component in self.components]
        return ChangeSize(added=sum(size[0] for size in sizes), removed=sum(size[1] for size in sizes))


class Summary(BaseModel):
    pipelines: dict[Status, int] = Field(default_factory=dict)
    components: dict[Status, int] = Field(default_factory=dict)
    resources: dict[Status, int] = Field(default_factory=dict)
    risks: dict[RiskLevel, int] = Field(default_factory=dict, description="Risks this change introduces.")
    risks_at_base: dict[RiskLevel, int] = Field(
        default_factory=dict, description="Risks the merge base has already (`at_base`): shown apart, never counted."
    )
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
            if risk.level in self.blocking_levels and not risk.at_base
        ]
