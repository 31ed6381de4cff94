"""The report says what the merge does: real changes to the fixture repository, rendered by real kpops, judged as a
managed-mode and as a manifest-mode repository would be applied, with every pipeline a change reaches through
symbolic links (kpops' own test suite links pipeline files and folders).

The managed-mode facts come from kpops' topic handler (`kpops/component_handlers/topic/handler.py`, 8.1.4 and
12.0.3): its dry run raises on a changed partition count or replication factor, and `deploy --execute` only alters
topic configs.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport, RiskLevel, Status
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.model.kinds import OperationMode
from kpops_bot.report.markdown import render_markdown
from kpops_bot.workspace import Workspace
from testbed.harness import BotHarness, running_bot
from testbed.repos import GitRepo
from tests.support.golden import check_golden

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
OUTPUT = "word-count-word-counter-topic"
CONNECTOR = """
- type: kafka-sink-connector
  name: redis-sink-connector
  config:
    connector.class: com.github.jcustenborder.kafka.connect.redis.RedisSinkConnector
    redis.hosts: redis-headless:6379
    redis.database: 0
    tasks.max: 1
    connection.password: changeme-in-vault
"""


@pytest.fixture
def feature(deployment_repo: GitRepo) -> GitRepo:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    return deployment_repo


def diff(repo: GitRepo, workspace: Workspace, pool: RenderPool, mode: OperationMode) -> DiffReport:
    request = DiffRequest(source=str(repo.path), base="main", head="feature", mode=mode.render_mode)
    return diff_revisions(workspace, pool, request, DiffOptions(operation_mode=mode))


def risks(report: DiffReport) -> list[tuple[str, RiskLevel, str | None]]:
    [word_count] = report.pipelines
    return [(risk.code, risk.level, risk.topic or risk.component) for risk in word_count.risks]


def risk_section(report: DiffReport) -> str:
    """The report's list of risks, as posted."""
    markdown = "".join(render_markdown(report))
    found = re.search(r"^### Risks\n\n(.*?)\n\n", markdown, re.MULTILINE | re.DOTALL)
    assert found is not None, markdown
    return found[1] + "\n"


def test_more_partitions_are_a_danger_in_managed_mode_and_a_notice_under_strimzi(
    feature: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    feature.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    feature.commit("More partitions for the counts")

    managed = diff(feature, workspace, pool, OperationMode.MANAGED)
    assert risks(managed) == [("partitions-increased", RiskLevel.DANGER, OUTPUT)]
    assert managed.summary.blocking, "kpops' dry run fails and its deploy keeps 3 partitions: not ready to merge"
    check_golden("risks/partitions-managed.md", risk_section(managed))

    manifest = diff(feature, workspace, pool, OperationMode.MANIFEST)
    assert risks(manifest) == [("partitions-increased", RiskLevel.NOTICE, OUTPUT)]
    assert not manifest.summary.blocking


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def harness(
    request: pytest.FixtureRequest, engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> Iterator[BotHarness]:
    with running_bot(request.param, engine_settings, tmp_path, deployment_repo) as running:
        yield running


def test_a_managed_repository_gets_no_ready_status_for_a_change_kpops_will_not_make(harness: BotHarness) -> None:
    """The issue's case: kpops' dry run exits 1 and `--execute` keeps 3 partitions, so the preview must block."""
    repo = harness.repo
    repo.write(".kpops-bot.yaml", "operation_mode: managed\n")
    repo.commit("This repository is deployed by kpops itself")
    repo.git("checkout", "-q", "-b", "feature")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    sha = repo.commit("More partitions for the counts")
    harness.send_pull_request("opened", 3, sha)
    assert harness.final_status(sha) == harness.forge.failure
    (report,) = harness.bot_comments(3)
    assert "in managed mode kpops does not change an existing topic's partition count" in report


def test_a_deleted_connector_is_a_warning_that_nothing_removes_it(
    feature: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    feature.replace(WORD_COUNT, CONNECTOR, "")
    feature.commit("Drop the redis sink")

    for mode in (OperationMode.MANAGED, OperationMode.ARGO):
        report = diff(feature, workspace, pool, mode)
        assert risks(report) == [("connector-removed", RiskLevel.WARNING, "redis-sink-connector")]
        [risk] = report.pipelines[0].risks
        assert risk.source is None  # no line of the head defines it; not its type's section in defaults.yaml
        check_golden(f"risks/connector-removed-{mode.value}.md", risk_section(report))


def test_a_retention_below_kafkas_default_is_a_warning(
    feature: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    feature.replace(WORD_COUNT, "cleanup.policy: compact", "cleanup.policy: compact\n          retention.ms: 86400000")
    feature.commit("Keep the counts a day")

    report = diff(feature, workspace, pool, OperationMode.MANIFEST)
    assert risks(report) == [("retention-shortened", RiskLevel.WARNING, OUTPUT)]
    [risk] = report.pipelines[0].risks
    assert risk.source is not None
    assert (risk.source.file, risk.value) == (WORD_COUNT, None)
    check_golden("risks/retention-below-default.md", risk_section(report))


def with_links(repo: GitRepo) -> GitRepo:
    """On main: a linked pipeline file, a linked pipeline folder and a link to that link; then a feature branch."""
    (repo.path / "pipelines/words-link").mkdir()
    (repo.path / "pipelines/words-link/pipeline.yaml").symlink_to("../word-count/pipeline.yaml")
    (repo.path / "pipelines/counts").symlink_to("word-count")
    (repo.path / "pipelines/counts-again").symlink_to("counts")
    repo.commit("Link word-count three ways")
    repo.git("checkout", "-q", "-b", "feature")
    return repo


def test_the_workspace_reads_links_as_git_keeps_them(deployment_repo: GitRepo, workspace: Workspace) -> None:
    repo = with_links(deployment_repo)
    (repo.path / "pipelines/word-count/hostname").symlink_to("/etc/hostname")
    commit = repo.commit("A link out of the repository: listed, never followed")
    assert workspace.repository(str(repo.path)).links(commit) == {
        "pipelines/counts": "word-count",
        "pipelines/counts-again": "counts",
        "pipelines/word-count/hostname": "/etc/hostname",
        "pipelines/words-link/pipeline.yaml": "../word-count/pipeline.yaml",
    }


def test_a_changed_pipeline_reaches_every_pipeline_linking_to_it(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    repo = with_links(deployment_repo)
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    repo.replace(WORD_COUNT, "partitions_count: 3", "partitions_count: 1")
    repo.commit("Scale word-count, fewer partitions")
    line = (repo.path / WORD_COUNT).read_text().splitlines().index("        partitions_count: 1") + 1

    report = diff(repo, workspace, pool, OperationMode.MANIFEST)
    assert [(p.name, p.status) for p in report.pipelines] == [
        ("counts", Status.CHANGED),
        ("counts-again", Status.CHANGED),
        ("word-count", Status.CHANGED),
        ("words-link", Status.CHANGED),
    ]
    for pipeline in report.pipelines:
        resources = {(r.kind, r.name): r for c in pipeline.components for r in c.resources}
        assert "-  replicas: 2\n+  replicas: 3" in resources["Deployment", "word-count-word-counter"].diff
        # (the linked pipelines render word-count's own topics, so the graph's topic risks come along: not looked at)
        [risk] = [risk for risk in pipeline.risks if risk.code == "partitions-decreased"]
        # a linked file's lines are its target's: the risk points there, not at the link
        assert risk.source is not None
        assert (risk.source.file, risk.source.line) == (WORD_COUNT, line)


def test_a_link_pointed_elsewhere_is_a_change_of_its_pipeline(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    repo = with_links(deployment_repo)
    (repo.path / "pipelines/counts").unlink()
    (repo.path / "pipelines/counts").symlink_to("team-a/orders")
    repo.commit("counts/ shows the orders pipeline now")

    report = diff(repo, workspace, pool, OperationMode.MANIFEST)
    assert [(p.name, p.status) for p in report.pipelines] == [
        ("counts", Status.CHANGED),
        ("counts-again", Status.CHANGED),
    ]
    [counts, _] = report.pipelines
    assert {c.name for c in counts.components if c.status is Status.ADDED} >= {"order-generator"}
    assert {c.name for c in counts.components if c.status is Status.REMOVED} >= {"word-counter"}


@pytest.fixture(params=[Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def applying(
    request: pytest.FixtureRequest, engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo
) -> Iterator[BotHarness]:
    """A manifest-mode bot that applies merges into `rendered/dev/` of the repository the forge hosts."""
    bare = deployment_repo.with_origin(tmp_path / "remote.git")
    with running_bot(
        request.param, engine_settings, tmp_path, deployment_repo, remote=bare, environments={"main": ["dev"]}
    ) as running:
        yield running


def merged(harness: BotHarness, number: int, branch: str) -> str:
    """Push `branch`, open it as pull request `number`, merge it into main on the remote; the merge commit once
    its apply is done."""
    repo = harness.repo
    head = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", branch)
    harness.forge.pulls.open(number, head, head_ref=branch)
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "main", "origin/main")
    repo.git("merge", "-q", "--no-ff", branch, "-m", f"Merge pull request {number} from {branch}")
    merge = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", "main")
    harness.forge.pulls.merge(number, merge)
    harness.send_pull_request("merged", number, head, merge_commit_sha=merge, head_ref=branch)
    assert harness.final_status(merge) == harness.forge.success
    return merge


def rendered(harness: BotHarness, pipeline: str) -> str:
    """Everything the apply committed for `pipeline` on the remote's main."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=harness.remote, check=True, capture_output=True, text=True).stdout

    folder = f"rendered/dev/{pipeline}"
    paths = git("ls-tree", "-r", "--name-only", "main", "--", folder).split()
    assert paths, f"nothing committed in {folder}"
    return "".join(git("show", f"main:{path}") for path in paths)


def test_a_merge_applies_every_pipeline_linking_to_the_changed_one(applying: BotHarness) -> None:
    repo = applying.repo
    repo.git("checkout", "-q", "-b", "links")
    (repo.path / "pipelines/words-link").mkdir()
    (repo.path / "pipelines/words-link/pipeline.yaml").symlink_to("../word-count/pipeline.yaml")
    (repo.path / "pipelines/counts").symlink_to("word-count")
    repo.commit("Link word-count as a file and as a folder")
    merged(applying, 1, "links")
    assert "1.0.0" in rendered(applying, "words-link")

    repo.git("checkout", "-q", "-b", "release")
    repo.replace(WORD_COUNT, 'imageTag: "1.0.0"', 'imageTag: "1.1.0"')
    repo.commit("Release 1.1.0 of word-count's images")
    merged(applying, 2, "release")
    for pipeline in ("word-count", "words-link", "counts"):
        manifests = rendered(applying, pipeline)
        assert "1.1.0" in manifests
        assert "1.0.0" not in manifests, f"{pipeline} left stale by the merge"
