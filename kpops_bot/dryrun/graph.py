"""The repository's data-flow graph at a commit, rendered through the engine, and the impact of a change on it.

What is rendered when (renders go through the render cache, so a pipeline whose files did not change since an
earlier render is read back, not rendered):
- `kpops-bot graph` renders every pipeline of the revision.
- A dry run renders its affected pipelines at base and head as before. Only when one of them adds, removes or
  changes a topic (`diff.impact.touched_topics`: declared differently, or read or written by other components) does
  it need the rest of the repository, and then at base only: the pipelines a change does not affect are the same at
  head (the graph at head is the base graph with the affected pipelines' head renders in their place). A change
  that only scales an app or edits a connector's settings renders nothing more.
- The base graph is built once per (repository, base commit, environment, mode, render settings) and kept in memory
  (`BASE_GRAPHS`, the most recently used `MAX_GRAPHS`), so every pull request on one base reuses it; a later base
  commit renders only the pipelines whose files changed (the others are in the render cache). A graph holding a
  render that failed on the machine (timeout, limit, crash) is not kept.
- A change policy that reads the graph (`policy.check.wants_graph`) gets it whatever the change touches: the base
  graph is built (or reused) for it as for an impact.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from kpops_bot.diff import impact
from kpops_bot.diff.graph import Graph, build
from kpops_bot.diff.model import PipelineDiff
from kpops_bot.engine.affected import AffectedSide, Rendered, render_key
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.targets import Progress, Renderer, RenderTarget, layout_at, render_targets
from kpops_bot.masking import Masker
from kpops_bot.model.render import ComponentRender, ErrorKind, PipelineRender, RenderSpec
from kpops_bot.pipelines import RepoLayout
from kpops_bot.sources import PipelineSources
from kpops_bot.workspace import CachedRepository, Workspace

MAX_GRAPHS = 32
_MACHINE_FAILURES = frozenset({ErrorKind.TIMEOUT, ErrorKind.LIMIT, ErrorKind.CRASH})
GraphKey = tuple[str, str, RenderSpec, str]


class GraphMemo:
    """Graphs by (repository, commit, spec, render settings), the most recently used `size` of them; thread-safe."""

    def __init__(self, size: int = MAX_GRAPHS) -> None:
        self._size = size
        self._graphs: OrderedDict[GraphKey, Graph] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: GraphKey) -> Graph | None:
        with self._lock:
            graph = self._graphs.get(key)
            if graph is not None:
                self._graphs.move_to_end(key)
                self.hits += 1
            return graph

    def put(self, key: GraphKey, graph: Graph) -> None:
        with self._lock:
            self._graphs[key] = graph
            self._graphs.move_to_end(key)
            while len(self._graphs) > self._size:
                self._graphs.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._graphs.clear()


BASE_GRAPHS = GraphMemo()


def graph_at(
    repository: CachedRepository,
    pool: Renderer,
    commit: str,
    spec: RenderSpec,
    cache: RenderCache | None = None,
    progress: Progress | None = None,
    *,
    layout: RepoLayout | None = None,
    rendered: Rendered | None = None,
    memo: GraphMemo = BASE_GRAPHS,
) -> Graph:
    """The graph of every pipeline at `commit`; renders already made (`rendered`) are reused."""
    key: GraphKey = (repository.url, commit, spec, json.dumps(pool.settings.render_fingerprint(), sort_keys=True))
    found = memo.get(key)
    if found is not None:
        return found
    layout = layout or layout_at(repository, commit, spec)
    rendered = rendered or {}
    targets = [RenderTarget(commit, pipeline, spec, layout) for _, pipeline in sorted(layout.pipelines.items())]
    missing = [target for target in targets if render_key(target) not in rendered]
    renders = dict(
        zip(map(render_key, missing), render_targets(repository, pool, missing, cache, progress), strict=True)
    )
    graph = build([rendered.get(render_key(target)) or renders[render_key(target)] for target in targets])
    if not any(_failed_on_the_machine(render) for render in renders.values()):
        memo.put(key, graph)
    return graph


def _failed_on_the_machine(render: PipelineRender) -> bool:
    return render.error is not None and render.error.kind in _MACHINE_FAILURES


def with_impact(
    repository: CachedRepository,
    pool: Renderer,
    cache: RenderCache | None,
    commits: tuple[str, str],
    side: AffectedSide,
    rendered: Rendered,
    pipelines: Sequence[PipelineDiff],
    masker: Masker,
    sources: Callable[[str], PipelineSources | None] = lambda _name: None,
    *,
    wanted: bool = False,
) -> tuple[Graph, Graph] | None:
    """Adds to each diff of `side`'s environment the other pipelines on its touched topics and their risks, each
    risk at the line that declares its topic (`sources` gives a pipeline's files at head). Returns the repository's
    graphs at base and at head when it built them: when a topic is touched, or always when `wanted` (a policy reads
    the graph)."""
    base, head = commits
    environment = side.spec.environment
    pairs = {
        diff.name: (rendered.get((base, environment, diff.name)), rendered.get((head, environment, diff.name)))
        for diff in pipelines
        if diff.environment == environment and diff.error is None
    }
    touched = [name for name, (old, new) in pairs.items() if impact.touched_topics(name, _ok(old), _ok(new))]
    if not touched and not wanted:
        return None
    base_graph = graph_at(repository, pool, base, side.spec, cache, layout=side.base_layout, rendered=rendered)
    head_renders = [new for _, new in pairs.values() if new is not None]
    head_graph = base_graph.with_pipelines(head_renders).without(side.affected.removed)
    unknown = [name for name in base_graph.failed if name not in pairs]
    for diff in pipelines:
        if diff.name not in touched or diff.environment != environment:
            continue
        if unknown:
            names = ", ".join(f"`{name}`" for name in unknown)
            diff.notes.append(masker.mask_text(f"The other pipelines on its topics leave out {names}: not rendered."))
        old, new = pairs[diff.name]
        found, risks = impact.assess(diff.name, _ok(old), _ok(new), base_graph, head_graph)
        files = sources(diff.name) if risks else None
        for risk in risks:
            risk.message = masker.mask_text(risk.message)
            if files is not None and risk.topic is not None:
                risk.source = files.locate(risk.component, None, ("to", "topics", risk.topic))
        for topic in found:
            topic.topic = masker.mask_text(topic.topic)
            for neighbour in topic.neighbours:
                neighbour.pipeline = masker.mask_text(neighbour.pipeline)
                neighbour.component = masker.mask_text(neighbour.component)
        diff.impact = found
        if diff.topology is not None:
            diff.topology = impact.with_neighbours(diff.topology, found)
        diff.risks = sorted([*diff.risks, *risks], key=lambda risk: -risk.level.rank)
    return base_graph, head_graph


def _ok(render: PipelineRender | None) -> list[ComponentRender]:
    return list(render.components) if render is not None and render.ok else []


def repository_graph(
    workspace: Workspace,
    pool: Renderer,
    source: str,
    revision: str,
    spec: RenderSpec,
    cache: RenderCache | None = None,
    progress: Progress | None = None,
) -> Graph:
    """The graph of every pipeline of `source` at `revision` (`kpops-bot graph`)."""
    repository = workspace.repository(source)
    return graph_at(repository, pool, repository.resolve(revision), spec, cache, progress)
