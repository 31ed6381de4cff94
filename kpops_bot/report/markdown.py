"""The diff report as pull request comments: summary first, then one folded section per pipeline.

Everything here is built from the already masked diff model; the text is split into parts by `report.split`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kpops_bot import escape
from kpops_bot.diff.model import (
    ComponentDiff,
    DiffReport,
    PipelineDiff,
    ResourceDiff,
    Risk,
    RiskLevel,
    Status,
    Topology,
)
from kpops_bot.escape import cell_code, code, composed, fenced, html_code, html_text, mermaid_label, plain
from kpops_bot.model.render import RenderError
from kpops_bot.report.split import Section, chunk_budget, split
from kpops_bot.text import leading_lines, shorten

DEFAULT_MAX_PARTS = 5
MAX_CELL = 200
MAX_ERROR = 600

_STATUS_ICONS = {
    Status.ERROR: "❌",
    Status.ADDED: "🆕",
    Status.REMOVED: "🗑️",
    Status.CHANGED: "✏️",
    Status.UNCHANGED: "✅",
}
_RISK_ICONS = {RiskLevel.DANGER: "🛑", RiskLevel.WARNING: "⚠️", RiskLevel.NOTICE: "ℹ️"}  # noqa: RUF001
_GLANCE_WORDS = {Status.ADDED: "added", Status.REMOVED: "removed", Status.CHANGED: "modified"}
_GLANCE_NAMES = 5
_STATUS_ORDER = [Status.ERROR, Status.CHANGED, Status.ADDED, Status.REMOVED, Status.UNCHANGED]
_RESOURCE_SIGNS = {Status.ADDED: "+", Status.REMOVED: "-", Status.CHANGED: "~"}
_MERMAID_CLASSES = {
    Status.ADDED: "fill:#dafbe1,stroke:#1a7f37",
    Status.REMOVED: "fill:#ffebe9,stroke:#cf222e,stroke-dasharray:4 3",
    Status.CHANGED: "fill:#fff8c5,stroke:#9a6700,stroke-width:2px",
}


@dataclass(frozen=True)
class NextCommand:
    """A command a reviewer may comment next on this pull request, and the least permission it needs."""

    text: str
    who: str


@dataclass(frozen=True)
class Footer:
    """What the comment ends with: the commands that apply to the pull request now, the bot's version and the
    pull request's timeline on the status page (when the bot's settings name its address)."""

    commands: Sequence[NextCommand]
    version: str
    timeline_url: str | None = None


def render_markdown(
    report: DiffReport,
    limit: int | None = None,
    max_parts: int = DEFAULT_MAX_PARTS,
    footer: Footer | None = None,
    base_branch: str | None = None,
) -> list[str]:
    """The comment parts, each within `limit` characters (one part when `limit` is None); the footer ends the last.

    `base_branch` names where the findings the merge base already has are ("already on `main`")."""
    return split(
        header(report, base_branch),
        _sections(report, limit),
        limit=limit,
        max_parts=max_parts,
        footer=footer_text(footer) if footer is not None else "",
    )


def footer_text(footer: Footer) -> str:
    commands = " · ".join(f"{code(command.text)} ({command.who})" for command in footer.commands)
    where = f" · [this pull request's timeline]({footer.timeline_url})" if footer.timeline_url else ""
    return (
        f"---\n<sub>**Next**, as a comment: {commands}. In brackets: the least permission each needs here; "
        f"`/kpops help` tells what each does in this repository. kpops-bot {plain(footer.version)}{where}</sub>\n"
    )


def _sections(report: DiffReport, limit: int | None) -> list[Section]:
    max_chunk = chunk_budget(limit)
    return [
        pipeline_section(pipeline, max_chunk)
        for pipeline in report.pipelines
        if pipeline.status not in (Status.UNCHANGED, Status.ERROR)
    ]


def details(report: DiffReport, limit: int) -> str:
    """The per-pipeline sections alone, within `limit` characters (what does not fit is named)."""
    text = split("", _sections(report, limit), limit=limit, max_parts=1)[0]
    return text.partition("\n")[2] if text.startswith("<!--") else text


def header(report: DiffReport, base_branch: str | None = None) -> str:
    lines = [title(report), "", context_line(report), "", counts_line(report), ""]
    shown = [pipeline for pipeline in report.pipelines if pipeline.status is not Status.UNCHANGED or _new(pipeline)]
    if shown:
        lines += [*summary_table(shown), ""]
    errors = [pipeline for pipeline in report.pipelines if pipeline.error is not None]
    if errors:
        lines += [
            "### ❌ Errors",
            "",
            *(error_line(pipeline, pipeline.error) for pipeline in errors if pipeline.error),
            "",
        ]
    risks = [(pipeline, risk) for pipeline in report.pipelines for risk in _new(pipeline)]
    if risks:
        lines += ["### Risks", "", *(risk_line(report, pipeline, risk) for pipeline, risk in risks), ""]
    lines += at_base_section(report, base_branch)
    if report.kpops is not None and report.kpops.migration:
        lines += [
            "### kpops upgrade",
            "",
            *(f"- ⚠️ {composed(shorten(risk, MAX_ERROR))}" for risk in report.kpops.migration),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n\n"


def at_base_section(report: DiffReport, base_branch: str | None) -> list[str]:
    """The findings the merge base has as well, folded: this pull request did not bring them and they block nothing."""
    found = [(pipeline, risk) for pipeline in report.pipelines for risk in pipeline.risks if risk.at_base]
    if not found:
        return []
    where = f"on {html_code(base_branch)}" if base_branch else "at the merge base"
    counts = ", ".join(
        _plural(count, level.value) for level, count in _in_order(report.summary.risks_at_base, list(RiskLevel)[::-1])
    )
    summary = f"{counts} already {where}"
    return [
        f"<details><summary>{summary} (not introduced here; never counted or blocking)</summary>",
        "",
        *(risk_line(report, pipeline, risk) for pipeline, risk in found),
        "",
        "</details>",
        "",
    ]


def _new(pipeline: PipelineDiff) -> list[Risk]:
    return [risk for risk in pipeline.risks if not risk.at_base]


def title(report: DiffReport) -> str:
    if not report.pipelines:
        return "## kpops-bot dry run: no pipeline affected"
    if report.summary.failed:
        verdict = f"❌ {_plural(report.summary.failed, 'pipeline')} failed to render"
    elif report.blocking_risks:
        verdict = f"🛑 {_plural(len(report.blocking_risks), 'blocking risk')}"
    else:
        verdict = "✅ ready to review"
    kpops = report.kpops
    upgrade = (
        f"kpops {plain(kpops.base or '')} → {plain(kpops.head or '')}: " if kpops is not None and kpops.changed else ""
    )
    return f"## kpops-bot dry run: {upgrade}{verdict}"


def context_line(report: DiffReport) -> str:
    environments = ", ".join(code(e) if e else "default" for e in report.environments)
    noun = "environments" if len(report.environments) > 1 else "environment"
    text = (
        f"Head {code(report.head[:12])} against its merge base {code(report.base[:12])} · mode `{report.mode}` · "
        f"{noun} {environments}"
    )
    kpops = report.kpops
    if kpops is not None and kpops.changed:
        return f"{text} · kpops {code(kpops.base or '')} → {code(kpops.head or '')}"
    if kpops is not None and kpops.head is not None:
        return f"{text} · kpops {code(kpops.head)}"
    return text


def counts_line(report: DiffReport) -> str:
    summary = report.summary
    if not report.pipelines:
        return "The change touches no file that kpops reads for a pipeline; nothing to deploy."
    pipelines = ", ".join(f"{count} {status.value}" for status, count in _in_order(summary.pipelines, _STATUS_ORDER))
    text = f"**{_plural(len(report.pipelines), 'pipeline')}** affected: {pipelines}."
    if summary.risks:
        risks = ", ".join(
            _plural(count, level.value) for level, count in _in_order(summary.risks, list(RiskLevel)[::-1])
        )
        text += f" **Risks**: {risks}; {_what_blocks(report)}."
    return text


def _what_blocks(report: DiffReport) -> str:
    """Whether anything blocks, said so that a count of notices cannot be read as blocking."""
    levels = " and ".join(level.value for level in report.blocking_levels)
    blocking = len(report.blocking_risks)
    if not report.blocking_levels:
        return "none blocks the merge (no level is set to block)"
    if not blocking:
        return f"none blocks the merge (only {levels} would)"
    noun = "level" if len(report.blocking_levels) == 1 else "levels"
    return f"{blocking} {'blocks' if blocking == 1 else 'block'} the merge (blocking {noun}: {levels})"


def summary_table(pipelines: Sequence[PipelineDiff]) -> list[str]:
    """One row per pipeline, read in seconds: verdict, size of the change, the components it adds, removes, modifies."""
    rows = [
        "| | Pipeline | Environment | Status | Size | Components | Risks |",
        "|:-:|---|---|---|:-:|---|---|",
    ]
    for pipeline in pipelines:
        rows.append(
            f"| {_pipeline_icon(pipeline)} | {cell_code(pipeline.name)} | {_cell_environment(pipeline.environment)} | "
            f"{pipeline.status.value} | {_size(pipeline)} | {_component_names(pipeline)} | "
            f"{_risk_counts(_new(pipeline))} |"
        )
    return rows


def _size(pipeline: PipelineDiff) -> str:
    if pipeline.status is Status.ERROR:
        return "–"  # noqa: RUF001
    return f"`+{pipeline.size.added} -{pipeline.size.removed}`"


def _component_names(pipeline: PipelineDiff) -> str:
    parts: list[str] = []
    for status, word in _GLANCE_WORDS.items():
        names = [component.name for component in pipeline.components if component.status is status]
        if names:
            shown = ", ".join(cell_code(name) for name in names[:_GLANCE_NAMES])
            more = f" +{len(names) - _GLANCE_NAMES} more" if len(names) > _GLANCE_NAMES else ""
            parts.append(f"{word} {shown}{more}")
    return " · ".join(parts) or "–"  # noqa: RUF001


def error_line(pipeline: PipelineDiff, error: RenderError) -> str:
    return f"- {code(pipeline.name)} ({_environment(pipeline.environment)}): {code(error.message, MAX_ERROR)}"


def risk_line(report: DiffReport, pipeline: PipelineDiff, risk: Risk) -> str:
    blocking = " (blocking)" if risk.level in report.blocking_levels else ""
    where = f" ({code(f'{risk.source.file}:{risk.source.line}')})" if risk.source else ""
    message = composed(risk.message)
    return f"- {_RISK_ICONS[risk.level]} **{risk.level.value}**{blocking} · {code(pipeline.name)}: {message}{where}"


def pipeline_section(pipeline: PipelineDiff, max_chunk: int | None = None) -> Section:
    environment = html_code(pipeline.environment) if pipeline.environment else "default"
    summary = f"{_pipeline_icon(pipeline)} <b>{html_text(pipeline.name)}</b> ({environment})"
    opening_lines = [f"<details><summary>{summary}: {_section_counts(pipeline)}</summary>", ""]
    continued = f"<details><summary>{summary} (continued)</summary>\n\n"
    if pipeline.notes:
        opening_lines += [*(f"> {composed(note)}" for note in pipeline.notes), ""]
    opening_lines += merge_applies(pipeline)
    opening_lines += impact_table(pipeline)
    if pipeline.topology is not None and pipeline.topology.nodes:
        opening_lines += [*mermaid(pipeline.topology), ""]
    chunks: list[str] = []
    for component in pipeline.components:
        if component.status is Status.UNCHANGED:
            continue
        chunks.append(component_block(component, max_chunk))
        chunks += [
            resource_block(resource, max_chunk)
            for resource in component.resources
            if resource.status is not Status.UNCHANGED
        ]
    return Section(
        opening="\n".join(opening_lines).rstrip() + "\n\n",
        continued=continued,
        chunks=chunks,
        closing="</details>\n\n",
        name=pipeline.name,
    )


def merge_applies(pipeline: PipelineDiff) -> list[str]:
    """Which components the merge puts into effect in the configured mode, and why not the others."""
    applied = [component.name for component in pipeline.components if component.applied]
    not_applied = [component for component in pipeline.components if not component.applied]
    if not not_applied:
        return [f"What a merge applies: every component ({_names(applied)}).", ""]
    lines = [f"What a merge applies: {_names(applied)}; not applied:", ""]
    return [*lines, *(f"- ⏸️ {composed(component.reason or '')}" for component in not_applied), ""]


_SIDES = {("base",): "before", ("head",): "after", ("base", "head"): "before and after"}


def impact_table(pipeline: PipelineDiff) -> list[str]:
    """The other pipelines on the topics the change touches: what a reviewer of this pipeline alone cannot see."""
    if not pipeline.impact:
        return []
    lines = [
        "Other pipelines on the topics this change touches:",
        "",
        "| Topic | Change | Pipeline | Component | Uses it | When |",
        "|---|---|---|---|---|---|",
    ]
    for topic in pipeline.impact:
        for neighbour in topic.neighbours:
            through = f" by pattern {cell_code(neighbour.pattern)}" if neighbour.pattern is not None else ""
            uses = f"{neighbour.direction}{through}"
            lines.append(
                f"| {cell_code(topic.topic)} | {topic.status.value} | {cell_code(neighbour.pipeline)} | "
                f"{cell_code(neighbour.component)} | {uses} | {_SIDES[tuple(neighbour.sides)]} |"
            )
    return [*lines, ""]


def _names(names: Sequence[str]) -> str:
    return ", ".join(code(name) for name in names) or "none"


def mermaid(topology: Topology) -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    for node in topology.nodes:
        label = mermaid_label(node.label)
        if node.kind == "topic":
            lines.append(f'  {node.id}[("{label}")]')
        else:
            kind = mermaid_label(node.type or "")
            lines.append(f'  {node.id}(["{label}<br/><i>{kind}</i>"])')
    lines += [f"  {edge.source} --> {edge.target}" for edge in topology.edges]
    used = {node.status for node in topology.nodes}
    for status, style in _MERMAID_CLASSES.items():
        if status in used:
            members = ",".join(node.id for node in topology.nodes if node.status is status)
            lines += [f"  classDef {status.value} {style}", f"  class {members} {status.value}"]
    lines.append("```")
    return lines


def component_block(component: ComponentDiff, max_chars: int | None = None) -> str:
    name, kind = code(component.name), escape.text(component.type)
    status = f"{_STATUS_ICONS[component.status]} {name} ({kind}): {component.status.value}"
    lines = [f"#### {status}"]
    changes = [change for change in component.config_changes if not is_internal(change.path)]
    if changes:
        lines += ["", "| Field | Base | Head |", "|---|---|---|"]
        budget = (max_chars or 1 << 62) - 200
        for index, change in enumerate(changes):
            old = _cell(change.old, absent=change.change == "added")
            new = _cell(change.new, absent=change.change == "removed")
            row = f"| {cell_code(change.path)} | {old} | {new} |"
            budget -= len(row) + 1
            if budget < 0:
                lines.append(f"| … {len(changes) - index} more fields | | |")
                break
            lines.append(row)
    if component.config:
        lines += ["", *configuration_table(component, max_chars)]
    internal = sorted({_top(path) for path in _paths(component) if is_internal(path)})
    if internal:
        fields = _plural_word(len(internal), "field")
        lines += ["", f"<sub>Left out: kpops' internal {fields} {_names(internal)} (in the JSON report).</sub>"]
    return "\n".join(lines) + "\n\n"


def is_internal(path: str) -> bool:
    """kpops' own bookkeeping in an enriched component (`_cleaner`, `_resetter`): it repeats the component's
    values for its cleanup Job, so every change would show twice. The JSON report keeps it."""
    return path.startswith("_")


def _paths(component: ComponentDiff) -> list[str]:
    return [change.path for change in component.config_changes] + [field.path for field in component.config]


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _plural_word(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


def configuration_table(component: ComponentDiff, max_chars: int | None = None) -> list[str]:
    """The whole configuration of an added or removed component, folded: connectors render nothing else."""
    side = "head" if component.status is Status.ADDED else "base"
    shown = sum(not is_internal(field.path) for field in component.config)
    summary = f"Configuration at {side} ({_plural(shown, 'field')})"
    lines = [f"<details><summary>{summary}</summary>", "", "| Field | Value |", "|---|---|"]
    budget = (max_chars or 1 << 62) - 400
    fields = [field for field in component.config if not is_internal(field.path)]
    for index, field in enumerate(fields):
        row = f"| {cell_code(field.path)} | {_cell(field.value, absent=False)} |"
        budget -= len(row) + 1
        if budget < 0:
            lines.append(f"| … {len(fields) - index} more fields | |")
            break
        lines.append(row)
    return [*lines, "", "</details>"]


def resource_block(resource: ResourceDiff, max_chars: int | None = None) -> str:
    sign = _RESOURCE_SIGNS.get(resource.status, "")
    title = f"{html_code(resource.title)} ({html_text(resource.api_version)})"
    summary = f"{sign} {title} {resource.status.value}"
    body = resource.diff
    if max_chars is not None and len(body) > max_chars - 400:
        body = _cut_lines(body, max_chars - 400)
    return f"<details><summary>{summary}</summary>\n\n{fenced(body, 'diff')}\n\n</details>\n\n"


def _cut_lines(text: str, max_chars: int) -> str:
    kept, cut = leading_lines(text, max_chars)
    return "\n".join([*kept, f"… {cut} more lines not shown (the JSON report has them all)"])


def _pipeline_icon(pipeline: PipelineDiff) -> str:
    if pipeline.status is Status.ERROR:
        return _STATUS_ICONS[Status.ERROR]
    if _new(pipeline):
        return _RISK_ICONS[max((risk.level for risk in _new(pipeline)), key=lambda level: level.rank)]
    return _STATUS_ICONS[pipeline.status]


def _section_counts(pipeline: PipelineDiff) -> str:
    parts = [pipeline.status.value]
    counts = [
        (status, sum(component.status is status for component in pipeline.components))
        for status in (Status.ADDED, Status.REMOVED, Status.CHANGED)
    ]
    shown = [(status, count) for status, count in counts if count]
    if shown:
        first_status, first_count = shown[0]
        words = [f"{_plural(first_count, 'component')} {first_status.value}"]
        words += [f"{count} {status.value}" for status, count in shown[1:]]
        parts.append(", ".join(words))
    parts.append(f"+{pipeline.size.added} -{pipeline.size.removed}")
    if _new(pipeline):
        parts.append(_plural(len(_new(pipeline)), "risk"))
    return " · ".join(parts)


def _risk_counts(risks: Sequence[Risk]) -> str:
    if not risks:
        return "–"  # noqa: RUF001
    counts = {level: sum(risk.level is level for risk in risks) for level in RiskLevel}
    return ", ".join(
        f"{_RISK_ICONS[level]} {count} {level.value}"
        for level, count in sorted(counts.items(), key=lambda item: -item[0].rank)
        if count
    )


def _environment(environment: str | None) -> str:
    return code(environment) if environment else "default"


def _cell_environment(environment: str | None) -> str:
    return cell_code(environment) if environment else "default"


def _cell(value: Any, *, absent: bool) -> str:
    if absent:
        return "–"  # noqa: RUF001
    text = value if isinstance(value, str) and "\n" not in value else json.dumps(value, ensure_ascii=False)
    return cell_code(text, MAX_CELL)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _in_order(counts: dict[Any, int], order: list[Any]) -> list[tuple[Any, int]]:
    return [(key, counts[key]) for key in order if counts.get(key)]
