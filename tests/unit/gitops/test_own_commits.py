"""The bot's own GitOps commits are known by their committer and what they touch, read from a real git repository;
a message line (a squash merge's `Kpops-Bot-Apply:`) or a borrowed identity on a pipeline change is not enough."""

from __future__ import annotations

from pathlib import Path

from kpops_bot.gitops.own_commits import Identity, Pushed, is_own_push
from kpops_bot.gitops.publish import COMMIT_TRAILER
from kpops_bot.gitops.target import Target
from kpops_bot.jobs import JobKind
from kpops_bot.model.render import Operation
from kpops_bot.settings import GitOpsSettings
from kpops_bot.workflows.apply import ApplyWorkflow
from kpops_bot.workflows.steps import Step
from kpops_bot.workspace import Workspace, WorkspaceError
from testbed.repos import GitRepo
from tests.support.fake_collaborators import FakeDeployment, FakeLocks, pipeline
from tests.support.recording_forge import RecordingForge
from tests.support.workflow_kit import job, push_event, settings

URL = "https://forge.test/acme/deployments.git"
BOT = Identity("kpops-bot", "kpops-bot@localhost")
TARGET = Target(URL, "main", {}, BOT.name, BOT.email)


def _commit_as(repo: GitRepo, identity: Identity, message: str) -> str:
    repo.git("add", "-A")
    repo.git("-c", f"user.name={identity.name}", "-c", f"user.email={identity.email}", "commit", "-q", "-m", message)
    return repo.git("rev-parse", "HEAD")


def _pushed(repo: GitRepo, tmp_path: Path, before: str, after: str) -> Pushed:
    cached = Workspace(tmp_path / "workspace").repository(str(repo.path))
    committers = [Identity(name, email) for name, email in cached.committers(before, after)]
    return Pushed(committers, cached.changed_paths(before, after))


def test_git_tells_who_committed_and_what_changed(tmp_path: Path, deployment_repo: GitRepo) -> None:
    before = deployment_repo.git("rev-parse", "HEAD")
    deployment_repo.write("rendered/dev/word-count/a.yaml", "kind: Deployment\n")
    bot_commit = _commit_as(deployment_repo, BOT, f"kpops-bot: apply !5\n\n{COMMIT_TRAILER}: {before}")
    pushed = _pushed(deployment_repo, tmp_path, before, bot_commit)
    assert pushed == Pushed([BOT], ["rendered/dev/word-count/a.yaml"])
    assert is_own_push(pushed, TARGET, URL, "main", "rendered")


def test_a_trailer_in_someone_elses_squash_merge_is_not_the_bots(tmp_path: Path, deployment_repo: GitRepo) -> None:
    before = deployment_repo.git("rev-parse", "HEAD")
    deployment_repo.replace("pipelines/team-a/orders/pipeline.yaml", "RATE: 100", "RATE: 400")
    alice = Identity("Alice", "alice@example.com")
    squash = _commit_as(deployment_repo, alice, f"Raise the rate (#7)\n\n* raise\n\n{COMMIT_TRAILER}: {before}")
    pushed = _pushed(deployment_repo, tmp_path, before, squash)
    assert pushed.committers == [alice]
    assert not is_own_push(pushed, TARGET, URL, "main", "rendered")


def test_the_bots_identity_on_a_pipeline_change_is_not_the_bots_commit() -> None:
    borrowed = Pushed([BOT], ["rendered/dev/x/a.yaml", "pipelines/team-a/orders/pipeline.yaml"])
    assert not is_own_push(borrowed, TARGET, URL, "main", "rendered")
    assert not is_own_push(Pushed([BOT], ["rendered-elsewhere/a.yaml"]), TARGET, URL, "main", "rendered")


def test_every_pushed_commit_must_be_the_bots() -> None:
    alice = Identity("Alice", "alice@example.com")
    assert not is_own_push(Pushed([BOT, alice], ["rendered/a.yaml"]), TARGET, URL, "main", "rendered")
    assert not is_own_push(Pushed([Identity(BOT.name, "x@evil")], ["rendered/a.yaml"]), TARGET, URL, "main", "rendered")
    assert not is_own_push(Pushed([], []), TARGET, URL, "main", "rendered")


def test_only_the_branch_and_repository_the_bot_publishes_to() -> None:
    own = Pushed([BOT], ["rendered/dev/x/a.yaml"])
    assert is_own_push(own, TARGET, URL, "main", "rendered/")
    assert not is_own_push(own, TARGET, URL, "release", "rendered")
    assert not is_own_push(own, TARGET, "https://forge.test/acme/other.git", "main", "rendered")
    assert is_own_push(Pushed([BOT], ["anything.yaml"]), TARGET, URL, "main", ".")  # the layout is the whole branch


def _apply_push(deployment: FakeDeployment, **overrides: object) -> tuple[str, RecordingForge]:
    forge = RecordingForge()
    workflow = ApplyWorkflow(settings(**overrides), lambda _forge: forge, deployment.open, FakeLocks())
    return workflow.run(job(push_event(), JobKind.APPLY)), forge


def test_the_apply_workflow_skips_only_the_bots_own_push() -> None:
    own = FakeDeployment(pushes=Pushed([BOT], ["rendered/dev/word-count/a.yaml"]))
    outcome, forge = _apply_push(own)
    assert outcome == "the bot's own commit is not applied again"
    assert forge.writes() == [] and forge.statuses == []
    assert not [name for name, _ in own.calls if name == "run"]

    elsewhere = FakeDeployment(pushes=Pushed([BOT], ["rendered/dev/word-count/a.yaml"]))
    elsewhere.planned = [Step(Operation.DEPLOY, pipeline("word-count"), "dev", "x")]
    outcome, forge = _apply_push(elsewhere, gitops=GitOpsSettings(branch="rendered"))  # the bot publishes elsewhere
    assert outcome == "1 step(s), 0 failed"

    forced = FakeDeployment(fail={"pushed": WorkspaceError("revision 'aaaa' not found")})
    forced.planned = [Step(Operation.DEPLOY, pipeline("word-count"), "dev", "x")]
    outcome, forge = _apply_push(forced)  # `before` is gone: a forced push, never the bot's
    assert outcome == "1 step(s), 0 failed"
