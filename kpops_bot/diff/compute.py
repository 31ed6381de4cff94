"""Base render + head render → PipelineDiff; pipeline diffs → DiffReport. Pure: no I/O, secrets masked on the way in."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpops_bot.connectors import ConnectorPolicy, applied, literal_secrets
from kpops_bot.diff import risks, topology
from kpops_bot.diff.manifest_schemas import DEFAULT_KUBERNETES_VERSION, ManifestChecks
from kpops_bot.diff.model import (
    ChangeKind,
    ComponentDiff,
    ConfigChange,
    ConfigField,
    DiffReport,
    KpopsSides,
    PipelineDiff,
    ResourceDiff,
    Risk,
    RiskLevel,
    Status,
    Summary,
)
from kpops_bot.diff.paths import FieldFilter, format_path
from kpops_bot.diff.tree_diff import Kind, tree_changes
from kpops_bot.diff.yaml_block import block_yaml
from kpops_bot.masking import Masker
from kpops_bot.model.kinds import OperationMode
from kpops_bot.model.policy import PolicyOptions
from kpops_bot.model.render import ComponentRender, Mode, Operation, PipelineRender, RenderError
from kpops_bot.sources import PipelineSources

ResourceKey = tuple[str, str, str, str]
_CHANGE_KINDS: dict[Kind, ChangeKind] = {Kind.ADDED: "added", Kind.REMOVED: "removed", Kind.CHANGED: "changed"}


@dataclass(frozen=True)
class DiffOptions:
    masker: Masker = field(default_factory=Masker)
    ignored: FieldFilter = field(default_factory=FieldFilter)
    blocking_levels: frozenset[RiskLevel] = frozenset({RiskLevel.DANGER})
    context_lines: int = 3
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    operation_mode: OperationMode = OperationMode.MANIFEST  # the repository's: risks say what its merge does
    connectors: ConnectorPolicy = field(default_factory=ConnectorPolicy)
    policies: PolicyOptions = field(default_factory=PolicyOptions)  # the Rego rules that judge the change

    @property
    def managed(self) -> bool:
        """The merge runs kpops itself (managed mode), which applies every component."""
        return self.operation_mode is OperationMode.MANAGED


def diff_pipeline(
    name: str,
    environment: str | None,
    base: PipelineRender | None,
    head: PipelineRender | None,
    options: DiffOptions,
    sources: PipelineSources | None = None,
    checks: ManifestChecks | None = None,
) -> PipelineDiff:
    """The diff of one pipeline; `None` on a side means the pipeline does not exist there.

    `sources` are the pipeline's kpops files at head, to point risks and errors at their lines; `checks` the
    violations of its manifests found when they were rendered (against `options.kubernetes_version`).
    """
    masker = options.masker
    source = head or base
    pipeline_file = source.pipeline_file if source is not None else None
    notes = [masker.mask_text(note) for note in (head.notes if head else [])]
    if head is not None and head.error is not None:
        return PipelineDiff(
            name=name,
            environment=environment,
            status=Status.ERROR,
            pipeline_file=pipeline_file,
            error=_masked_error(_located(head.error, sources), masker),
            notes=notes,
        )
    if base is not None and base.error is not None:
        cause = masker.mask_text(base.error.message)
        notes.append(f"It did not render at the merge base ({cause}); everything is shown as new.")
    base_components = base.components if base is not None and base.ok else None
    head_components = head.components if head is not None else None
    components = _diff_components(base_components or [], head_components or [], options)
    if base is None:
        status = Status.ADDED
    elif head is None:
        status = Status.REMOVED
    else:
        changed = any(component.status is not Status.UNCHANGED for component in components)
        status = Status.CHANGED if changed else Status.UNCHANGED
    context = risks.RiskContext(
        sources=sources or PipelineSources(),
        kubernetes_version=options.kubernetes_version,
        checks=checks,
        operation_mode=options.operation_mode,
        connector_resources=options.connectors.for_environment(environment).strimzi,
        mask_resource=masker.mask_resource,
    )
    found = risks.assess(name, base_components, head_components, context)
    mode = source.mode if source is not None else Mode.MANIFEST
    merge = _what_a_merge_applies(environment, mode, base_components or [], head_components or [], components, options)
    for risk in merge:
        risk.message = masker.mask_text(risk.message)
        risk.source = context.sources.locate(risk.component, None, risk._path)
    found = sorted([*found, *merge], key=lambda risk: -risk.level.rank)
    for risk in found:
        risk.message = masker.mask_text(risk.message)
        risk.value = masker.mask_text(risk.value) if risk.value is not None else None
    shown_topology = None
    if status is not Status.UNCHANGED:
        shown_topology = topology.build(base_components or [], head_components or [], components)
        for node in shown_topology.nodes:
            node.label = masker.mask_text(node.label)
    return PipelineDiff(
        name=name,
        environment=environment,
        status=status,
        pipeline_file=pipeline_file,
        risks=found,
        components=components,
        topology=shown_topology,
        notes=notes,
    )


def _what_a_merge_applies(
    environment: str | None,
    mode: Mode,
    base: Sequence[ComponentRender],
    head: Sequence[ComponentRender],
    components: Sequence[ComponentDiff],
    options: DiffOptions,
) -> list[Risk]:
    """Marks each component diff with whether the merge applies it; the risks of changes it does not apply, and of
    literal secrets a KafkaConnector would commit."""
    setup = options.connectors.for_environment(environment)
    renders = {component.name: component for component in base} | {component.name: component for component in head}
    found: list[Risk] = []
    for diff in components:
        operation = Operation.DESTROY if diff.status is Status.REMOVED else Operation.DEPLOY
        verdict = applied(renders[diff.name], operation, None if options.managed else mode, setup)
        diff.applied = verdict.applied
        diff.reason = options.masker.mask_text(verdict.reason) if verdict.reason is not None else None
        # A removed connector left running has a risk of its own (`connector-removed`), which says how to remove it.
        if not verdict.applied and diff.status not in (Status.UNCHANGED, Status.REMOVED):
            message = f"{diff.status.value}, but {verdict.reason}"
            found.append(Risk(level=RiskLevel.WARNING, code="not-applied", message=message, component=diff.name))
    if setup.strimzi and not options.managed:
        found += [
            literal_secret_risk(component.name, key)
            for component in head
            for key in literal_secrets(component, options.masker)
        ]
    return found


def literal_secret_risk(component: str, key: str) -> Risk:
    """A KafkaConnector would commit a secret in clear: the publish refuses it, the preview says so first."""
    message = (
        f"connector `{component}`: `config.{key}` holds a literal secret; it is committed only as a config-provider "
        f"reference (`${{secrets:<namespace>/<secret>:<key>}}`, `${{file:...}}`, `${{env:...}}`, "
        "`${directory:...}`), so the merge will refuse to publish this pipeline"
    )
    risk = Risk(level=RiskLevel.DANGER, code="connector-secret-literal", message=message, component=component)
    risk.field = f"config.{key}"
    risk._path = ("config", key)
    return risk


def _located(error: RenderError, sources: PipelineSources | None) -> RenderError:
    """The error with the line of its component when the render could not tell one."""
    if error.line is not None or error.component is None or sources is None:
        return error
    where = sources.locate(error.component)
    if where is None or (error.file is not None and where.file != error.file):
        return error
    return error.model_copy(update={"file": where.file, "line": where.line})


def _masked_error(error: RenderError, masker: Masker) -> RenderError:
    return error.model_copy(update={"message": masker.mask_text(error.message)})


def _diff_components(
    base: Sequence[ComponentRender], head: Sequence[ComponentRender], options: DiffOptions
) -> list[ComponentDiff]:
    base_by_name = {component.name: component for component in base}
    head_names = {component.name for component in head}
    pairs: list[tuple[ComponentRender | None, ComponentRender | None]]
    pairs = [(base_by_name.get(component.name), component) for component in head]
    pairs += [(component, None) for component in base if component.name not in head_names]
    return [_diff_component(old, new, options) for old, new in pairs]


def _diff_component(base: ComponentRender | None, head: ComponentRender | None, options: DiffOptions) -> ComponentDiff:
    either = head or base
    assert either is not None
    config_changes = _config_changes(base.config, head.config, options) if base and head else []
    # Connectors render no manifests: an added or removed component shows its whole configuration.
    config = [] if base and head else _config_fields(either.config, options)
    namespace = str(either.config.get("namespace") or "") or None
    resources = _diff_resources(base.manifests if base else [], head.manifests if head else [], namespace, options)
    if base is None:
        status = Status.ADDED
    elif head is None:
        status = Status.REMOVED
    elif config_changes or any(resource.status is not Status.UNCHANGED for resource in resources):
        status = Status.CHANGED
    else:
        status = Status.UNCHANGED
    return ComponentDiff(
        name=either.name,
        type=either.type,
        status=status,
        config_changes=config_changes,
        config=config,
        resources=resources,
    )


def _config_fields(config: dict[str, Any], options: DiffOptions) -> list[ConfigField]:
    masked = options.masker.mask(options.ignored.apply(config))
    return [ConfigField(path=format_path(path), value=value) for path, value in _leaves(masked, ())]


def _leaves(value: Any, prefix: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every scalar with its path; an empty mapping or list is a leaf of its own."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaves(child, (*prefix, key))
    elif isinstance(value, list) and value:
        for index, child in enumerate(value):
            yield from _leaves(child, (*prefix, index))
    else:
        yield prefix, value


def _config_changes(base: dict[str, Any], head: dict[str, Any], options: DiffOptions) -> list[ConfigChange]:
    if _identical(base, head):  # most components of a wide change: no filtering, masking or tree walk
        return []
    old, new = options.masker.mask_pair(options.ignored.apply(base), options.ignored.apply(head))
    changes = [
        ConfigChange(path=format_path(change.path), change=_CHANGE_KINDS[change.kind], old=change.old, new=change.new)
        for change in tree_changes(old, new)
    ]
    return sorted(changes, key=lambda change: change.path)


def _identity(resource: dict[str, Any], namespace: str | None) -> tuple[ResourceKey, str, str | None]:
    """Kubernetes identity: group (not version), kind, namespace, name; plus the apiVersion and namespace shown."""
    api_version = str(resource.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]
    metadata = resource.get("metadata") or {}
    shown_namespace = metadata.get("namespace") or namespace
    key = (group, str(resource.get("kind", "")), shown_namespace or "", str(metadata.get("name", "")))
    return key, api_version, shown_namespace


def _index(
    resources: Iterable[dict[str, Any]], namespace: str | None
) -> dict[ResourceKey, tuple[str, str | None, dict[str, Any]]]:
    indexed: dict[ResourceKey, tuple[str, str | None, dict[str, Any]]] = {}
    for resource in resources:
        key, api_version, shown_namespace = _identity(resource, namespace)
        unique, copy = key, 2
        while unique in indexed:
            unique = (*key[:3], f"{key[3]}#{copy}")
            copy += 1
        indexed[unique] = (api_version, shown_namespace, resource)
    return indexed


def _diff_resources(
    base: Sequence[dict[str, Any]], head: Sequence[dict[str, Any]], namespace: str | None, options: DiffOptions
) -> list[ResourceDiff]:
    old, new = _index(base, namespace), _index(head, namespace)
    diffs: list[ResourceDiff] = []
    for key in [*new, *(key for key in old if key not in new)]:
        before, after = old.get(key), new.get(key)
        api_version, shown_namespace, _ = after or before  # type: ignore[misc]
        if before is not None and after is not None and _identical(before[2], after[2]):
            # Equal as rendered is equal without the ignored fields: the same status, and nothing to filter or show.
            diffs.append(_unchanged_resource(api_version, key, shown_namespace))
            continue
        old_doc = options.ignored.apply(before[2]) if before else None
        new_doc = options.ignored.apply(after[2]) if after else None
        if before is None:
            status = Status.ADDED
        elif after is None:
            status = Status.REMOVED
        else:
            status = Status.UNCHANGED if _identical(old_doc, new_doc) else Status.CHANGED
        diffs.append(
            ResourceDiff(
                apiVersion=api_version,
                kind=key[1],
                namespace=shown_namespace,
                name=key[3],
                status=status,
                diff=_masked_unified(old_doc, new_doc, options) if status is not Status.UNCHANGED else "",
            )
        )
    return diffs


def _unchanged_resource(api_version: str, key: ResourceKey, namespace: str | None) -> ResourceDiff:
    return ResourceDiff(
        apiVersion=api_version, kind=key[1], namespace=namespace, name=key[3], status=Status.UNCHANGED, diff=""
    )


def _identical(base: Any, head: Any) -> bool:
    """Equal with the types of every value alike (the tree diff tells `1` from `1.0` and `True`, `==` does not)."""
    if base != head:
        return False
    try:
        return json.dumps(base, allow_nan=False) == json.dumps(head, allow_nan=False)
    except (TypeError, ValueError):  # not JSON (or NaN, never equal to itself): the tree diff decides
        return False


def _masked_unified(old: Any, new: Any, options: DiffOptions) -> str:
    """An unchanged resource shows no text, so only a changed one is masked."""
    masked_old, masked_new = options.masker.mask_resource_pair(old, new)
    return _unified(masked_old, masked_new, options.context_lines)


def _unified(old: Any, new: Any, context: int) -> str:
    old_lines = _yaml_lines(old)
    new_lines = _yaml_lines(new)
    lines = difflib.unified_diff(old_lines, new_lines, n=context, lineterm="")
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


def _yaml_lines(document: Any) -> list[str]:
    if document is None:
        return []
    return block_yaml(document).splitlines()


def build_report(
    base: str,
    head: str,
    mode: Mode,
    environments: Sequence[str | None],
    pipelines: Sequence[PipelineDiff],
    blocking_levels: Iterable[RiskLevel] = (RiskLevel.DANGER,),
    kpops: KpopsSides | None = None,
) -> DiffReport:
    """The report of all pipelines: errors first, then by name and environment."""
    levels = sorted(set(blocking_levels), key=lambda level: level.rank)
    ordered = sorted(pipelines, key=lambda p: (p.status is not Status.ERROR, p.name, p.environment or ""))
    report = DiffReport(
        base=base,
        head=head,
        mode=mode,
        environments=list(environments),
        blocking_levels=levels,
        pipelines=ordered,
        kpops=kpops,
    )
    report.summary = summarise(report)
    return report


def summarise(report: DiffReport) -> Summary:
    pipelines = Counter(pipeline.status for pipeline in report.pipelines)
    components = Counter(c.status for pipeline in report.pipelines for c in pipeline.components)
    resources = Counter(r.status for p in report.pipelines for c in p.components for r in c.resources)
    risk_levels = Counter(risk.level for pipeline in report.pipelines for risk in pipeline.risks if not risk.at_base)
    at_base = Counter(risk.level for pipeline in report.pipelines for risk in pipeline.risks if risk.at_base)
    failed = pipelines[Status.ERROR]
    return Summary(
        pipelines=dict(pipelines),
        components=dict(components),
        resources=dict(resources),
        risks=dict(risk_levels),
        risks_at_base=dict(at_base),
        failed=failed,
        blocking=bool(failed or report.blocking_risks),
    )
