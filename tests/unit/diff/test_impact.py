"""The impact of a change on the other pipelines of the repository, in real dry runs (real git, real kpops)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.graph import build
from kpops_bot.diff.impact import assess
from kpops_bot.diff.model import DiffReport, PipelineDiff, Risk, RiskLevel
from kpops_bot.dryrun.graph import BASE_GRAPHS
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.cache import RenderCache
from kpops_bot.engine.pool import RenderPool
from kpops_bot.model.policy import PullRequestFacts
from kpops_bot.report.markdown import render_markdown
from kpops_bot.workspace import Workspace
from testbed.repos import FIXTURES, GitRepo
from tests.support.golden import check_golden
from tests.unit.diff.test_graph import rendered

ORDERS = "pipelines/team-a/orders/pipeline.yaml"
ANALYTICS = "pipelines/team-b/analytics/pipeline.yaml"


@pytest.fixture
def feature(tmp_path: Path) -> GitRepo:
    BASE_GRAPHS.clear()  # each test's repository is new, but its graph must not come from another test's run
    repo = GitRepo.from_fixture(tmp_path / "graph-repo", FIXTURES / "graph-repo")
    repo.git("checkout", "-q", "-b", "feature")
    return repo


def dry_run(repo: GitRepo, workspace: Workspace, pool: RenderPool, cache: RenderCache | None = None) -> DiffReport:
    return diff_revisions(workspace, pool, DiffRequest(source=str(repo.path), base="main", head="feature"), cache=cache)


def pipeline(report: DiffReport, name: str) -> PipelineDiff:
    (found,) = [p for p in report.pipelines if p.name == name]
    return found


def risk(diff: PipelineDiff, code: str) -> Risk:
    (found,) = [r for r in diff.risks if r.code == code]
    return found


def golden_markdown(name: str, report: DiffReport) -> None:
    (markdown,) = render_markdown(report)
    check_golden(name, markdown.replace(report.base[:12], "base-commit0").replace(report.head[:12], "head-commit0"))


def test_renaming_a_topic_another_pipeline_reads_is_a_danger_naming_its_readers(
    feature: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    feature.replace(ORDERS, "orders-enriched:", "orders-enriched-v2:")
    feature.commit("Rename the enriched orders topic")
    report = dry_run(feature, workspace, pool)

    assert [p.name for p in report.pipelines] == ["team-a-orders"]
    orders = pipeline(report, "team-a-orders")
    left = risk(orders, "topic-readers-left")
    assert (left.level, left.component, left.topic) == (RiskLevel.DANGER, "order-enricher", "orders-enriched")
    assert "`team-b-analytics` (`order-counter`)" in left.message
    assert "team-c-audit" not in left.message  # its pattern matches the new name as well
    new = risk(orders, "pattern-matches-new-topic")
    assert new.level is RiskLevel.NOTICE and new.topic == "orders-enriched-v2"
    assert "`team-c-audit` (`orders-archive`, by pattern `orders-.*`)" in new.message
    shown = {
        (t.topic, n.pipeline, n.component, n.direction, tuple(n.sides)) for t in orders.impact for n in t.neighbours
    }
    assert shown == {
        ("orders-enriched", "team-b-analytics", "order-counter", "reads", ("base", "head")),
        ("orders-enriched", "team-c-audit", "orders-archive", "reads", ("base",)),
        ("orders-enriched-v2", "team-c-audit", "orders-archive", "reads", ("head",)),
    }
    assert report.summary.blocking
    golden_markdown("graph/impact-rename.md", report)
    # the picture shows the neighbour reading the old topic
    assert orders.topology is not None
    nodes = {node.id: node for node in orders.topology.nodes}
    (counter,) = [node for node in nodes.values() if node.label == "order-counter"]
    assert counter.type == "in team-b-analytics"
    assert [nodes[e.source].label for e in orders.topology.edges if e.target == counter.id] == ["orders-enriched"]


def test_a_partition_decrease_names_the_readers_and_a_scale_renders_nothing_more(
    feature: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    cache = RenderCache(tmp_path / "cache")
    feature.replace(ORDERS, "partitions_count: 6", "partitions_count: 4")
    feature.commit("Fewer partitions")
    report = dry_run(feature, workspace, pool, cache)

    shared = risk(pipeline(report, "team-a-orders"), "shared-topic-changed")
    assert shared.level is RiskLevel.WARNING and shared.topic == "orders-enriched"
    assert "partitions `6` → `4`" in shared.message
    assert "`team-b-analytics` (`order-counter`), `team-c-audit` (`orders-archive`, by pattern `orders-.*`)" in (
        shared.message
    )
    assert cache.stores == 4  # orders at base and head; the two other pipelines at base, for the graph
    golden_markdown("graph/impact-partitions.md", report)

    # Another pull request on the same base reuses the base graph: nothing is rendered or read back for it.
    hits = BASE_GRAPHS.hits
    feature.replace(ORDERS, "partitions_count: 4", "partitions_count: 2")
    feature.commit("Even fewer partitions")
    again = dry_run(feature, workspace, pool, cache)
    assert BASE_GRAPHS.hits == hits + 1
    assert (cache.stores, cache.hits) == (5, 1)  # the new head; orders at base from the cache
    assert (
        "`team-b-analytics` (`order-counter`)" in risk(pipeline(again, "team-a-orders"), "shared-topic-changed").message
    )

    # A change that touches no topic does not render the rest of the repository.
    BASE_GRAPHS.clear()
    feature.git("reset", "-q", "--hard", "main")
    feature.replace(ANALYTICS, 'imageTag: "1.0.0"', 'imageTag: "1.1.0"')
    feature.commit("New image")
    stores = cache.stores
    scaled = dry_run(feature, workspace, pool, cache)
    assert pipeline(scaled, "team-b-analytics").impact == []
    assert cache.stores == stores + 1  # analytics at head; its base render is in the cache
    assert BASE_GRAPHS.hits == hits + 1


def test_a_second_writer_of_a_topic_is_a_warning_naming_the_first() -> None:
    first = ("enricher", "streams-app", {"to": {"topics": {"orders": {"type": "output"}}}})
    second = ("replayer", "producer-app", {"to": {"topics": {"orders": {"type": "output"}}}})
    base = rendered("a", first)
    head = rendered("b", second)
    base_graph = build([base])
    _impact, risks = assess("b", [], head.components, base_graph, base_graph.with_pipelines([head]))
    (twice,) = risks
    assert (twice.level, twice.code, twice.topic) == (RiskLevel.WARNING, "topic-written-twice", "orders")
    assert "`a` (`enricher`)" in twice.message
    # already written by both before the change: nothing new to warn about
    both = build([base, head])
    changed = rendered("b", ("replayer", "producer-app", {"to": {"topics": {"orders": {"partitions_count": 2}}}}))
    assert assess("b", head.components, changed.components, both, both.with_pipelines([changed]))[1] == []


def test_a_pattern_reader_of_a_removed_topic_is_named_unless_its_pattern_follows_the_rename() -> None:
    writes = ("enricher", "streams-app", {"to": {"topics": {"orders-enriched": {"type": "output"}}}})
    archive = ("archive", "kafka-sink-connector", {"config": {"topics.regex": "orders-.*"}})
    base = [rendered("a", writes), rendered("c", archive)]
    graph = build(base)

    def left(new_name: str) -> list[Risk]:
        head = rendered("a", ("enricher", "streams-app", {"to": {"topics": {new_name: {"type": "output"}}}}))
        _impact, risks = assess("a", base[0].components, head.components, graph, graph.with_pipelines([head]))
        return [r for r in risks if r.code == "topic-readers-left"]

    (gone,) = left("enriched-orders")  # its topics.regex no longer matches what `a` writes
    assert (gone.level, gone.topic, gone.component) == (RiskLevel.DANGER, "orders-enriched", "enricher")
    assert "`c` (`archive`, by pattern `orders-.*`)" in gone.message
    assert left("orders-enriched-v2") == []  # the pattern matches the new name: the reader follows the rename


def test_removing_the_writing_pipeline_names_the_readers_it_leaves(
    feature: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    feature.git("rm", "-q", "-r", "pipelines/team-a")
    feature.commit("Retire team A's orders pipeline")
    report = dry_run(feature, workspace, pool)

    orders = pipeline(report, "team-a-orders")
    left = {r.topic: r for r in orders.risks if r.code == "topic-readers-left"}
    assert sorted(left) == ["orders-enriched", "orders-raw"]
    assert {topic: (r.level, r.component) for topic, r in left.items()} == {
        "orders-enriched": (RiskLevel.DANGER, "order-enricher"),
        "orders-raw": (RiskLevel.DANGER, "order-producer"),
    }
    assert "`team-b-analytics` (`order-counter`)" in left["orders-enriched"].message
    # team-c reads both through its pattern: it is left without them too
    archive = "`team-c-audit` (`orders-archive`, by pattern `orders-.*`)"
    assert archive in left["orders-enriched"].message and archive in left["orders-raw"].message
    assert {t.topic for t in orders.impact} == {"orders-enriched", "orders-raw"}


def test_names_in_the_impact_table_are_escaped() -> None:
    from kpops_bot.diff.model import Neighbour, Status, TopicImpact
    from kpops_bot.report.markdown import impact_table

    hostile = "a|b`@team <details>"
    diff = PipelineDiff(
        name="p",
        environment=None,
        status=Status.CHANGED,
        impact=[
            TopicImpact(
                topic=hostile,
                status=Status.REMOVED,
                neighbours=[
                    Neighbour(pipeline=hostile, component="c\nd", direction="reads", pattern=".*|x", sides=["base"])
                ],
            )
        ],
    )
    row = impact_table(diff)[-2]
    assert row.count(" | ") == 5  # six cells: no `|` of a name splits one
    assert "``a\\|b`@team <\u200ddetails>``" in row
    assert "c⏎d" in row and "\n" not in row


def test_the_picture_folds_neighbours_beyond_its_limit() -> None:
    from kpops_bot.diff.impact import with_neighbours
    from kpops_bot.diff.model import Neighbour, Status, TopicImpact, Topology, TopologyNode

    topic = TopologyNode(id="t0", label="orders", kind="topic", status=Status.CHANGED)
    readers = [
        Neighbour(pipeline=f"p{index}", component="reader", direction="reads", sides=["base", "head"])
        for index in range(5)
    ]
    shown = with_neighbours(
        Topology(nodes=[topic]), [TopicImpact(topic="orders", status=Status.CHANGED, neighbours=readers)], 3
    )
    assert [node.label for node in shown.nodes] == ["orders", "reader", "reader", "reader", "… 2 more (see the table)"]
    assert [(edge.source, edge.target) for edge in shown.edges] == [("t0", "n0"), ("t0", "n1"), ("t0", "n2")]


def test_a_pipeline_that_does_not_render_at_base_is_named_as_left_out(
    feature: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    feature.git("checkout", "-q", "main")
    feature.write("pipelines/team-c/audit/pipeline.yaml", "- type: no-such-component\n  name: x\n")
    feature.commit("Break audit")
    feature.git("checkout", "-q", "feature")
    feature.git("merge", "-q", "main")
    feature.replace(ORDERS, "orders-enriched:", "orders-enriched-v2:")
    feature.commit("Rename the enriched orders topic")
    orders = pipeline(dry_run(feature, workspace, pool), "team-a-orders")
    assert orders.notes == ["The other pipelines on its topics leave out `team-c-audit`: not rendered."]
    assert "`team-b-analytics` (`order-counter`)" in risk(orders, "topic-readers-left").message


def test_policies_see_the_impact_and_can_refuse_a_change_other_teams_read(
    feature: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    """A team's rule over the data flow: a change to a topic another team's pipeline reads needs its consent."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "teams.rego").write_text(
        "package kpops\nimport rego.v1\n\n"
        'team(pipeline) := concat("-", array.slice(split(pipeline, "-"), 0, 2))\n\n'
        "deny contains msg if {\n"
        "  some impact in input.impact\n"
        "  some neighbour in impact.neighbours\n"
        '  neighbour.direction == "reads"\n'
        "  team(neighbour.pipeline) != team(input.pipeline)\n"
        '  msg := sprintf("%s reads %s: ask them first", [neighbour.pipeline, impact.topic])\n'
        "}\n",
        encoding="utf-8",
    )
    feature.replace(ORDERS, "orders-enriched:", "orders-enriched-v2:")
    feature.commit("Rename the enriched orders topic")
    options = DiffOptions()
    options = replace(options, policies=replace(options.policies, folders=(str(rules),)))
    request = DiffRequest(source=str(feature.path), base="main", head="feature")
    report = diff_revisions(workspace, pool, request, options)
    denials = {r.message for r in pipeline(report, "team-a-orders").risks if r.code == "policy"}
    assert denials == {
        "policy `kpops.deny`: team-b-analytics reads orders-enriched: ask them first",
        "policy `kpops.deny`: team-c-audit reads orders-enriched: ask them first",
        "policy `kpops.deny`: team-c-audit reads orders-enriched-v2: ask them first",
    }


TEAM_RULE = """package kpops.change
import rego.v1

team(pipeline) := concat("-", array.slice(split(pipeline, "-"), 0, 2))

# No pipeline may read another team's topic without the label, wherever in the repository its writer is.
deny contains {"msg": msg, "pipeline": reader.pipeline, "environment": graph.environment} if {
    not "cross-team-read" in input.pull_request.labels
    some graph in input.graph
    some reader in graph.head.flows
    reader.direction == "reads"
    some changed in input.pipelines
    changed.pipeline == reader.pipeline
    some writer in graph.head.flows
    writer.direction == "writes"
    writer.topic == reader.topic
    team(writer.pipeline) != team(reader.pipeline)
    msg := sprintf("%s reads %s of %s", [reader.pipeline, reader.topic, writer.pipeline])
}
"""


def test_a_team_rule_over_the_whole_graph_denies_reading_another_teams_topic_without_a_label(
    feature: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    """The change touches no topic (a new image for team B's analytics), so it has no impact; the policy still sees
    the repository's graph, where team A writes what analytics reads."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "teams.rego").write_text(TEAM_RULE, encoding="utf-8")
    feature.replace(ANALYTICS, 'imageTag: "1.0.0"', 'imageTag: "1.1.0"')
    feature.commit("New image")
    request = DiffRequest(source=str(feature.path), base="main", head="feature")

    def judged(*labels: str) -> list[str]:
        options = DiffOptions()
        facts = PullRequestFacts(number=5, labels=labels)
        options = replace(options, policies=replace(options.policies, folders=(str(rules),), pull_request=facts))
        report = diff_revisions(workspace, pool, request, options)
        analytics = pipeline(report, "team-b-analytics")
        assert analytics.impact == []  # nothing around the change: the rule reads the whole graph
        return [r.message for r in analytics.risks if r.code == "policy"]

    assert judged() == ["policy `kpops.change.deny`: team-b-analytics reads orders-enriched of team-a-orders"]
    assert judged("cross-team-read") == []
