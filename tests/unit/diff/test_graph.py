"""The repository's data-flow graph: read from enriched configurations, printed by `kpops-bot graph` with real kpops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kpops_bot.diff.graph import Direction, Flow, build
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.model.render import ComponentRender, Mode, Operation, PipelineRender
from kpops_bot.report.graph import GraphFormat, render_graph
from testbed.repos import FIXTURES, MIRROR_FROM, GitRepo
from tests.support.golden import check_golden
from tests.unit.test_cli import kpops_bot

GRAPH_REPO = FIXTURES / "graph-repo"


def rendered(name: str, *components: tuple[str, str, dict[str, Any]], error: bool = False) -> PipelineRender:
    from kpops_bot.model.render import ErrorKind, RenderError

    return PipelineRender(
        name=name,
        pipeline_file=f"pipelines/{name}/pipeline.yaml",
        revision="c0ffee",
        environment=None,
        mode=Mode.MANIFEST,
        operation=Operation.DEPLOY,
        error=RenderError(message="broken", kind=ErrorKind.YAML) if error else None,
        components=[
            ComponentRender(name=n, type=t, config={"name": n, "type": t, **config}) for n, t, config in components
        ],
    )


PRODUCER = (
    "producer",
    "producer-app",
    {"to": {"topics": {"orders": {"type": "output"}}}, "values": {"kafka": {"outputTopic": "orders"}}},
)
ENRICHER = (
    "enricher",
    "streams-app",
    {
        "to": {"topics": {"enriched": {"type": "output"}, "enricher-error": {"type": "error"}}},
        "values": {
            "kafka": {
                "inputTopics": ["orders"],
                "labeledInputTopics": {"refunds": ["refunds"]},
                "outputTopic": "enriched",
                "errorTopic": "enricher-error",
            }
        },
    },
)
ARCHIVE = ("archive", "kafka-sink-connector", {"config": {"topics.regex": "orders|enriched"}})
SINK = ("sink", "kafka-sink-connector", {"config": {"topics": "enriched, refunds"}})


def test_flows_of_apps_and_connectors_with_their_error_topics_extra_inputs_and_patterns() -> None:
    graph = build([rendered("a", PRODUCER, ENRICHER), rendered("b", SINK, ARCHIVE)])
    assert {(f.pipeline, f.component, f.topic, f.direction, f.pattern) for f in graph.flows} == {
        ("a", "producer", "orders", Direction.WRITES, False),
        ("a", "enricher", "orders", Direction.READS, False),
        ("a", "enricher", "refunds", Direction.READS, False),
        ("a", "enricher", "enriched", Direction.WRITES, False),
        ("a", "enricher", "enricher-error", Direction.WRITES, False),
        ("b", "sink", "enriched", Direction.READS, False),
        ("b", "sink", "refunds", Direction.READS, False),
        ("b", "archive", "orders|enriched", Direction.READS, True),
    }
    assert graph.topics == ["enriched", "enricher-error", "orders", "refunds"]
    # a pattern matches the whole name, as Kafka matches it
    assert [(f.pipeline, f.component) for f in graph.readers("enriched")] == [("b", "sink"), ("b", "archive")]
    assert graph.readers("enricher-error") == []
    assert [(f.pipeline, f.component) for f in graph.writers("orders")] == [("a", "producer")]


def test_a_failed_render_is_named_and_replaced_pipelines_leave_their_old_flows() -> None:
    graph = build([rendered("a", PRODUCER), rendered("b", error=True)])
    assert graph.failed == ("b",)
    changed = graph.with_pipelines([rendered("a", ENRICHER), rendered("b", SINK)])
    assert changed.failed == ()
    assert changed.writers("orders") == []
    assert {f.pipeline for f in changed.readers("enriched")} == {"b"}


def test_an_invalid_pattern_reaches_no_topic() -> None:
    flow = Flow("p", "c", "orders(", Direction.READS, pattern=True)
    assert not flow.reaches("orders(")


def test_names_are_labels_never_ids_or_markup() -> None:
    hostile = rendered('x"];click c0 call alert()', ('c"]', "streams-app", {"config": {}, "to": {"topics": {}}}))
    sink = ("s", "kafka-sink-connector", {"config": {"topics": 'a"b`#<i>'}})
    text = render_graph(build([hostile, rendered("y", sink)]), GraphFormat.MERMAID)
    assert '"]' not in text.replace('"])', "").replace('")]', "").replace('"]\n', "\n")
    assert "<i>" not in text.replace("<i>kafka-sink-connector</i>", "")
    dot = render_graph(build([rendered("y", sink)]), GraphFormat.DOT)
    assert 'label="a\\"b`#<i>"' in dot


@pytest.fixture
def graph_repo(tmp_path: Path) -> GitRepo:
    return GitRepo.from_fixture(tmp_path / "graph-repo", GRAPH_REPO)


def test_kpops_bot_graph_prints_the_repository_in_mermaid_and_json(
    graph_repo: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    args = [
        "graph",
        "--repo",
        str(graph_repo.path),
        "--rev",
        "main",
        "--chart-mirror",
        f"{MIRROR_FROM}={chart_server.url}",
        "--workspace",
        str(tmp_path / "workspace"),
    ]
    completed = kpops_bot(*args)
    assert completed.returncode == 0, completed.stderr
    check_golden("graph/repository.mmd", completed.stdout)
    # team-b's counter reads team-a's output topic
    assert "c1 --> t9" in completed.stdout and "t9 --> c5" in completed.stdout

    as_json = kpops_bot(*args, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    check_golden("graph/repository.json", as_json.stdout)
    topics = {topic["name"]: topic for topic in json.loads(as_json.stdout)["topics"]}
    assert topics["orders-enriched"]["writers"] == [{"pipeline": "team-a-orders", "component": "order-enricher"}]
    assert topics["orders-enriched"]["readers"] == [
        {"pipeline": "team-b-analytics", "component": "order-counter"},
        {"pipeline": "team-c-audit", "component": "orders-archive", "pattern": "orders-.*"},
    ]


def test_a_pipeline_that_fails_to_render_is_named_and_exits_1(
    graph_repo: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    graph_repo.write("pipelines/team-c/audit/pipeline.yaml", "- type: no-such-component\n  name: x\n")
    graph_repo.commit("Break audit")
    args = ["graph", "--repo", str(graph_repo.path), "--format", "dot", "--no-cache"]
    completed = kpops_bot(*args, "--chart-mirror", f"{MIRROR_FROM}={chart_server.url}", "--workspace", str(tmp_path))
    assert completed.returncode == 1, completed.stderr
    assert 'failed [shape=note, label="did not render: team-c-audit"];' in completed.stdout
    assert "team-a-orders" in completed.stdout
