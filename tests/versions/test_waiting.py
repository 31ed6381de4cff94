"""A job that waits for a kpops environment to be built says so in its head's status, through the workflows with
the bot's real dry run (`Services.diff`): the environment of kpops 8.1.4 is really built from the package index.

The build is held back by taking its file lock, as another process building the same release would: meanwhile the
waiting job's status names the release, and a job of another repository that needs no build runs to its end.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from prometheus_client.parser import text_string_to_metric_families

from kpops_bot import metrics
from kpops_bot.events.model import Forge, Repository
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.jobs import JobKind
from kpops_bot.model.forge import CommitState, Permission
from kpops_bot.report.notices import preparing_kpops_for_diff
from kpops_bot.services import Services
from kpops_bot.settings import BotSettings
from kpops_bot.versions.environments import EnvironmentStore
from kpops_bot.workflows.commands import CommandWorkflow
from kpops_bot.workflows.preview import PreviewWorkflow
from kpops_bot.workflows.waiting import borrowed_status
from testbed.harness import wait_for
from testbed.kpops_versions import KPOPS_EXAMPLES
from testbed.repos import MIRROR_FROM, GitRepo
from tests.support.golden import check_golden
from tests.support.recording_forge import RecordingForge, Status
from tests.support.workflow_kit import comment_event, job, pull, pull_request_event

pytestmark = pytest.mark.kpops  # real kpops releases render; an environment is built from the package index

WORD_COUNT = "word-count/pipeline.yaml"
STRIMZI = "\nstrimzi_topic:\n  label:\n    strimzi.io/cluster: kafka\n"


@pytest.fixture
def services(versioned_chart_server: ChartServer, tmp_path: Path) -> Iterator[Services]:
    settings = BotSettings(
        data_dir=tmp_path / "bot-data",
        helm="builtin",
        chart_mirrors={MIRROR_FROM: versioned_chart_server.url},
        variables={"NAMESPACE": "kpops"},
        public_variables=["NAMESPACE"],
        render_timeout=120,
        kpops_environments=tmp_path / "environments",  # empty: kpops 8.1.4 is built on its first use
    )
    running = Services.create(settings)
    yield running
    running.close()


def scaled_pull_request(path: Path, *, pin: str | None = None) -> tuple[GitRepo, str]:
    """kpops-examples (pinning kpops~=8.1.4, or `pin` with the migration kpops 9+ needs) and a branch scaling it."""
    repo = GitRepo.from_fixture(path, KPOPS_EXAMPLES)
    if pin is not None:
        repo.write("requirements.txt", f"kpops{pin}\n")
        repo.write("config.yaml", (path / "config.yaml").read_text() + STRIMZI)
        repo.commit(f"Pin kpops{pin}")
    repo.git("checkout", "-q", "-b", "feature")
    repo.replace(WORD_COUNT, "replicaCount: 1", "replicaCount: 2")
    return repo, repo.commit("Scale word-count")


def repository(repo: GitRepo) -> Repository:
    return Repository(Forge.GITHUB, f"acme/{repo.path.name}", str(repo.path))


@contextmanager
def build_held_back(services: Services, release: str) -> Iterator[None]:
    """Another process builds `release` until the block ends: this one waits for its file lock."""
    folder = services.settings.kpops_environments
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f".kpops-{release}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def statuses(forge: RecordingForge, sha: str) -> list[Status]:
    return [status for status in forge.statuses if status.sha == sha]


def builds(release: str, outcome: str) -> float:
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if sample.name == "kpops_bot_kpops_environment_builds_total" and sample.labels == {
                "release": release,
                "outcome": outcome,
            }:
                return sample.value
    return 0.0


def test_a_preview_waiting_for_kpops_8_says_so_while_another_repository_is_previewed(
    services: Services, tmp_path: Path
) -> None:
    forge = RecordingForge()
    workflow = PreviewWorkflow(services.settings, lambda _forge: forge, services.diff, lambda _job, _kinds: None)
    old, old_head = scaled_pull_request(tmp_path / "pins-8")
    new, new_head = scaled_pull_request(tmp_path / "pins-12", pin="~=12.0")
    waiting_job = job(pull_request_event(head_sha=old_head, repository=repository(old)), JobKind.PREVIEW)
    other_job = job(pull_request_event(number=2, head_sha=new_head, repository=repository(new)), JobKind.PREVIEW)
    built_before = builds("8.1.4", "built")
    outcomes: list[str] = []
    with build_held_back(services, "8.1.4"):
        waiting = threading.Thread(target=lambda: outcomes.append(workflow.run(waiting_job)))
        waiting.start()
        wait_for("the waiting status", lambda: any(s.description.startswith("Preparing") for s in forge.statuses))
        # The other repository's pull request is previewed while the first one waits.
        assert workflow.run(other_job) == "reported 1 pipeline(s) in 1 comment(s), status success"
        assert waiting.is_alive()
        assert statuses(forge, old_head)[-1].state is CommitState.PENDING
    waiting.join()
    assert outcomes == ["reported 1 pipeline(s) in 1 comment(s), status success"], forge.bot_bodies(1)
    told = [f"{status.state.value}: {status.description}" for status in statuses(forge, old_head)]
    check_golden("versions/waiting-statuses.txt", "\n".join(told) + "\n")
    assert [status.description for status in statuses(forge, new_head)][1:] == ["Pipelines: 1 changed"]
    assert "kpops `8.1.4`" in forge.bot_bodies(1)[0]
    assert builds("8.1.4", "built") == built_before + 1  # the environment build metric moved with the build


@dataclass
class DiffCommand:
    """A pull request of a repository pinning kpops 8 on a recording forge, and the command workflow to comment on."""

    forge: RecordingForge
    where: Repository
    head: str
    workflow: CommandWorkflow

    def comment(self, comment_id: int = 55, job_id: int = 7) -> str:
        event = replace(comment_event("/kpops diff word-count", comment_id=comment_id), repository=self.where)
        return self.workflow.run(job(event, JobKind.COMMAND, job_id=job_id))


def diff_command(services: Services, tmp_path: Path) -> DiffCommand:
    forge = RecordingForge()
    repo, head = scaled_pull_request(tmp_path / "pins-8")
    forge.pulls[1] = replace(pull(1), head_sha=head)
    forge.permissions["alice"] = Permission.READ
    workflow = CommandWorkflow(
        services.settings,
        lambda _forge: forge,
        services.diff,
        services.lock_book,
        services.open_repository,
        services.store.record_head,
    )
    return DiffCommand(forge, repository(repo), head, workflow)


def test_a_kpops_diff_waiting_for_kpops_8_borrows_the_heads_status_and_gives_it_back(
    services: Services, tmp_path: Path
) -> None:
    pr = diff_command(services, tmp_path)
    forge, head = pr.forge, pr.head
    forge.set_status(pr.where, head, CommitState.SUCCESS, "Pipelines: 1 changed", "https://forge.test/c/1")
    assert pr.comment() == "answered 1 command(s)"
    told = [f"{status.state.value}: {status.description} {status.target_url}" for status in statuses(forge, head)]
    check_golden("versions/diff-borrowed-statuses.txt", "\n".join(told) + "\n")
    assert told[0] == told[2] == "success: Pipelines: 1 changed https://forge.test/c/1"
    [answer] = forge.bot_bodies(1)
    assert "kpops `8.1.4`" in answer and "replicas" in answer
    # Built now: a second diff waits for nothing and leaves the status alone.
    pr.comment(comment_id=56, job_id=8)
    assert len(statuses(forge, head)) == 3


def test_a_kpops_diff_killed_while_it_waited_gives_the_status_back_when_it_is_retried(
    services: Services, tmp_path: Path
) -> None:
    pr = diff_command(services, tmp_path)
    pr.forge.set_status(pr.where, pr.head, CommitState.FAILURE, "Pipelines: 1 failed", "https://forge.test/c/1")
    # What the killed attempt left: its borrowed status on top of the preview's, and the environment it waited for.
    pr.forge.set_status(pr.where, pr.head, CommitState.PENDING, preparing_kpops_for_diff("8.1.4"))
    assert services.settings.kpops_environments is not None
    EnvironmentStore(services.settings.kpops_environments).get(Version("8.1.4"), SpecifierSet(">=3.10"))
    assert pr.comment() == "answered 1 command(s)"
    latest = statuses(pr.forge, pr.head)[-1]
    assert (latest.state, latest.description, latest.target_url) == (
        CommitState.FAILURE,
        "Pipelines: 1 failed",
        "https://forge.test/c/1",
    )


def test_a_borrowed_status_is_not_given_back_over_what_a_preview_wrote_meanwhile() -> None:
    forge = RecordingForge()
    where = Repository(Forge.GITHUB, "acme/deploy", "")
    forge.set_status(where, "abc", CommitState.SUCCESS, "Pipelines: 1 changed")
    with borrowed_status(forge, where, "abc") as heard:
        heard(Version("8.1.4"))
        forge.set_status(where, "abc", CommitState.PENDING, "Rendering the pipelines this change affects")
    assert statuses(forge, "abc")[-1].description == "Rendering the pipelines this change affects"
