"""What the policies see and what their findings become. Pure: renders and diffs in, inputs and risks out.

A manifest policy (`package main`, conftest's default) sees one rendered manifest at head, as `conftest test` sees
one document of a YAML file. A pipeline policy (`package kpops`) sees one document per pipeline and environment,
described by `pipeline-input.schema.json`; a change policy (`package kpops.change`) sees all of them at once, with
the repository's data-flow graph (`change-input.schema.json`).
Every value a policy sees is masked as the report masks it, so a message that quotes a value cannot carry a secret
into a comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from kpops_bot.diff.graph import Graph
from kpops_bot.diff.model import PipelineDiff, Risk, RiskLevel
from kpops_bot.masking import Masker
from kpops_bot.model.policy import (
    CHANGE_NAMESPACE,
    MANIFEST_NAMESPACE,
    PIPELINE_NAMESPACE,
    Finding,
    PullRequestFacts,
    Severity,
)
from kpops_bot.model.render import ComponentRender, Mode, PipelineRender
from kpops_bot.policy.evaluate import Evaluation
from kpops_bot.sources import PipelineSources, Segment

POLICY_CODE = "policy"
_LEVELS = {Severity.DENY: RiskLevel.DANGER, Severity.WARN: RiskLevel.WARNING}


def manifest_evaluations(
    head: PipelineRender | None, masker: Masker
) -> list[tuple[Evaluation, ComponentRender, dict[str, Any]]]:
    """One evaluation per rendered manifest at head, with the component that rendered it."""
    if head is None or not head.ok:
        return []
    return [
        (Evaluation(MANIFEST_NAMESPACE, masker.mask_resource(manifest)), component, manifest)
        for component in head.components
        for manifest in component.manifests
    ]


def pipeline_evaluation(
    diff: PipelineDiff,
    base: PipelineRender | None,
    head: PipelineRender | None,
    mode: Mode,
    pull_request: PullRequestFacts | None,
    masker: Masker,
) -> Evaluation:
    """The pipeline's document (schema: `pipeline-input.schema.json`)."""
    by_name = {component.name: component for component in diff.components}
    base_components = {c.name: c for c in (base.components if base is not None and base.ok else [])}
    head_components = {c.name: c for c in (head.components if head is not None and head.ok else [])}
    components = [
        {
            "name": name,
            "type": diff_component.type,
            "status": diff_component.status.value,
            "changed_fields": [change.path for change in diff_component.config_changes],
            "resources": [
                {
                    "apiVersion": resource.api_version,
                    "kind": resource.kind,
                    "namespace": resource.namespace,
                    "name": resource.name,
                    "status": resource.status.value,
                }
                for resource in diff_component.resources
            ],
            "base": _side(base_components.get(name), masker),
            "head": _side(head_components.get(name), masker),
        }
        for name, diff_component in by_name.items()
    ]
    document = {
        "pipeline": diff.name,
        "environment": diff.environment,
        "mode": mode.value,
        "status": diff.status.value,
        "components": components,
        "risks": [
            {"level": r.level.value, "code": r.code, "message": r.message, "component": r.component, "topic": r.topic}
            for r in diff.risks
        ],
        # the other pipelines on the topics this change touches (the repository's data-flow graph, `diff/impact.py`)
        "impact": [impact.model_dump(mode="json") for impact in diff.impact],
        "pull_request": _facts(pull_request),
    }
    return Evaluation(PIPELINE_NAMESPACE, document)


def change_evaluation(
    pipelines: Sequence[Evaluation], pull_request: PullRequestFacts | None, graph: Sequence[dict[str, Any]] = ()
) -> Evaluation:
    """The whole change's document (`package kpops.change`, schema: `change-input.schema.json`): every pipeline's
    document, the pull request, and the repository's graph per environment (`graph_document`) where a change policy
    reads it."""
    document = {"pipelines": [e.input for e in pipelines], "pull_request": _facts(pull_request), "graph": list(graph)}
    return Evaluation(CHANGE_NAMESPACE, document)


def graph_document(graph: Graph, masker: Masker) -> dict[str, Any]:
    """Every pipeline's reads and writes: one flow per component and topic (or pattern), and the pipelines whose
    render failed (their flows are unknown)."""
    return {
        "flows": [
            {
                "pipeline": masker.mask_text(flow.pipeline),
                "component": masker.mask_text(flow.component),
                "type": flow.component_type,
                "direction": flow.direction.value,
                "topic": masker.mask_text(flow.topic),
                "pattern": flow.pattern,
            }
            for flow in graph.flows
        ],
        "failed": [masker.mask_text(name) for name in graph.failed],
    }


def named_pipeline(finding: Finding, pipelines: Sequence[PipelineDiff]) -> int:
    """The index of the pipeline a whole-change finding names (`pipeline`, and `environment` if given); else 0."""
    wanted = finding.details.get("pipeline")
    environment = finding.details.get("environment")
    for index, pipeline in enumerate(pipelines):
        if pipeline.name == wanted and (environment is None or pipeline.environment == environment):
            return index
    return 0


def _side(component: ComponentRender | None, masker: Masker) -> dict[str, Any] | None:
    if component is None:
        return None
    return {
        "config": masker.mask(component.config),
        "manifests": [masker.mask_resource(manifest) for manifest in component.manifests],
    }


def _facts(facts: PullRequestFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    shown = asdict(facts)
    shown["labels"] = list(facts.labels)
    return shown


def risk(
    finding: Finding,
    sources: PipelineSources,
    masker: Masker,
    component: ComponentRender | None = None,
    manifest: dict[str, Any] | None = None,
    types: dict[str, str] | None = None,
) -> Risk:
    """A finding as a risk: `deny`/`violation` a danger, `warn` a warning; pointed at the line of its component (of
    its topic when the manifest is a KafkaTopic or the result names one)."""
    details = finding.details
    name = component.name if component is not None else _text(details.get("component"))
    topic = _text(details.get("topic"))
    if topic is None and manifest is not None and manifest.get("kind") == "KafkaTopic":
        topic = _text((manifest.get("metadata") or {}).get("name"))
    path: tuple[Segment, ...] = ("to", "topics", topic) if topic is not None else ()
    extra = details.get("path")
    if isinstance(extra, list):
        path = (*path, *(step for step in extra if isinstance(step, str | int)))
    rule = f"{finding.namespace}.{finding.rule}"
    result = Risk(
        level=_LEVELS[finding.severity],
        code=POLICY_CODE,
        message=f"policy `{rule}`: {masker.mask_text(finding.message)}",
        component=name,
        topic=topic,
        rule=rule,
    )
    component_type = component.type if component is not None else (types or {}).get(name or "")
    result.source = sources.locate(name, component_type, path) if name is not None else None
    result._path = path
    return result


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
