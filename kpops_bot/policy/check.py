"""The dry run's policy check: which policies judge a change, and the risks they find in its pipelines.

The repository's own folder is read at the merge base, never at head: a pull request cannot weaken the rules that
judge it. When it edits them, every pipeline's preview says so; the edited rules judge after the merge. The bot's
own folders (the organisation's rules) are read from its disk. Each policy set is evaluated once per dry run, in one
bounded child process, over every affected pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpops_bot.diff.graph import Graph
from kpops_bot.diff.model import PipelineDiff, Status
from kpops_bot.masking import Masker
from kpops_bot.model.policy import CHANGE_NAMESPACE, PolicyOptions, PolicySet
from kpops_bot.model.render import ComponentRender, Mode, PipelineRender
from kpops_bot.policy import judge
from kpops_bot.policy.evaluate import Evaluation, evaluate
from kpops_bot.policy.load import from_directory, from_files
from kpops_bot.sources import PipelineSources


@dataclass(frozen=True)
class EnvironmentGraph:
    """The repository's data-flow graph in one environment, before and after the change (`dryrun/graph.py`)."""

    environment: str | None
    base: Graph
    head: Graph


@dataclass(frozen=True)
class Judged:
    """A pipeline's diff with what its policies look at."""

    diff: PipelineDiff
    base: PipelineRender | None
    head: PipelineRender | None
    sources: PipelineSources | None


def repository_policies(
    folder: str | None, files: Sequence[str], read: Callable[[str], str | None]
) -> PolicySet | None:
    """The repository's policy folder at one revision (`files` are that revision's paths); None when it has none."""
    if not folder:
        return None
    prefix = folder.strip("/") + "/"
    inside = [path for path in files if path.startswith(prefix)]
    if not inside:
        return None
    return from_files(f"{prefix} of the repository", inside, read)


def wants_graph(sets: Sequence[PolicySet]) -> bool:
    """Whether a change policy reads the repository's graph (`input.graph`; its text names `graph`): then the dry
    run builds the graph at base (once per base commit) even when the change touches no topic."""
    return any(
        module.package == CHANGE_NAMESPACE and "graph" in module.text
        for policies in sets
        for module in policies.modules
    )


def policy_sets(options: PolicyOptions, at_base: PolicySet | None) -> list[PolicySet]:
    found = [*([at_base] if at_base is not None else []), *(from_directory(Path(f)) for f in options.folders)]
    return [policies.without_tests() for policies in found]


def changed_policies(folder: str | None, changed_paths: Sequence[str]) -> list[str]:
    if not folder:
        return []
    prefix = folder.strip("/") + "/"
    return sorted(path for path in changed_paths if path.startswith(prefix))


def note_changed(pipelines: Sequence[PipelineDiff], changed: Sequence[str]) -> None:
    if not changed:
        return
    files = ", ".join(f"`{path}`" for path in changed)
    note = f"These policies change: {files}. This pull request is judged by them as they are at its base; "
    note += "the change takes effect after the merge."
    for pipeline in pipelines:
        pipeline.notes.append(note)


def check(
    judged: Sequence[Judged],
    sets: Sequence[PolicySet],
    mode: Mode,
    options: PolicyOptions,
    masker: Masker,
    graphs: Sequence[EnvironmentGraph] = (),
) -> None:
    """Adds each pipeline's policy risks to it. Raises PolicyError (naming the file) when a policy cannot be
    evaluated or exceeds its limit."""
    rendered = [item for item in judged if item.diff.status is not Status.ERROR]
    if not rendered:
        return
    for policies in sets:
        evaluations: list[Evaluation] = []
        contexts: list[tuple[int, ComponentRender | None, dict[str, Any] | None]] = []
        pipelines: list[Evaluation] = []
        for index, item in enumerate(rendered):
            for evaluation, rendered_by, document in judge.manifest_evaluations(item.head, masker):
                evaluations.append(evaluation)
                contexts.append((index, rendered_by, document))
            pipelines.append(
                judge.pipeline_evaluation(item.diff, item.base, item.head, mode, options.pull_request, masker)
            )
            evaluations.append(pipelines[-1])
            contexts.append((index, None, None))
        change = judge.change_evaluation(pipelines, options.pull_request, _graphs(graphs, masker))
        found = evaluate(policies, [*evaluations, change], options.limits)
        for finding in found.pop():  # the whole change's: on the pipeline it names, else on the first
            named = judge.named_pipeline(finding, [item.diff for item in rendered])
            found.append([finding])
            contexts.append((named, None, None))
        for row, (index, component, manifest) in zip(found, contexts, strict=True):
            item = rendered[index]
            types = {c.name: c.type for c in item.diff.components}
            sources = item.sources or PipelineSources()
            item.diff.risks += [judge.risk(f, sources, masker, component, manifest, types) for f in row]
    for item in rendered:
        item.diff.risks.sort(key=lambda risk: -risk.level.rank)


def _graphs(graphs: Sequence[EnvironmentGraph], masker: Masker) -> list[dict[str, Any]]:
    """The change document's `graph` (schema: `change-input.schema.json`), names masked as the report masks them."""
    return [
        {
            "environment": graph.environment,
            "base": judge.graph_document(graph.base, masker),
            "head": judge.graph_document(graph.head, masker),
        }
        for graph in graphs
    ]
