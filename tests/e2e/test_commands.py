"""End to end, on both forges, manifest mode: comment commands, locks, and apply on merge into a real bare remote.

The deployment repository lives in a bare repository the fake forge hosts; the tests commit in a working clone
and push, as people do; the bot clones from and pushes rendered manifests back to the same remote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpops_bot.events.model import CommentEvent, Forge
from kpops_bot.gitops.publish import COMMIT_TRAILER
from kpops_bot.jobs import CommandRequest, JobKind
from kpops_bot.model.locks import Resource, Waiting
from kpops_bot.report.identity import answer_of
from kpops_bot.settings import ApplySettings
from kpops_bot.store import JobState, NewJob
from testbed.harness import BotHarness, harness_fixture, wait_for
from tests.support.kustomize import build_committed_folders

WORD_COUNT = "pipelines/word-count/pipeline.yaml"
ORDERS = "pipelines/team-a/orders/pipeline.yaml"


class Remote:
    """The bare repository the forge hosts, read the way a reviewer would: `git show`, `git log`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.path, check=True, capture_output=True, text=True).stdout.strip()

    def head(self, branch: str = "main") -> str:
        return self.git("rev-parse", branch)

    def files(self, folder: str, branch: str = "main") -> list[str]:
        listing = self.git("ls-tree", "-r", "--name-only", branch, "--", folder)
        return [line for line in listing.splitlines() if line]

    def show(self, path: str, branch: str = "main") -> str:
        return self.git("show", f"{branch}:{path}")

    def message(self, revision: str = "main") -> str:
        return self.git("log", "-1", "--format=%B", revision)


def _builds_every_file(remote: Remote, folder: str) -> None:
    """Real kustomize builds the folder as Flux and Argo CD do: a resource per file, one-off Jobs included."""
    built = build_committed_folders(remote.path)
    assert sorted(built) == [folder]
    assert len(built[folder]) == len(remote.files(folder)) - 1  # all but the kustomization itself


harness = harness_fixture(environments={"main": ["dev"]}, apply=ApplySettings(push_branches=["main"]))


def _open(harness: BotHarness, number: int, branch: str, path: str, old: str, new: str) -> str:
    """A branch from main with one change, pushed and opened as pull request `number`; its head."""
    repo = harness.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", branch, "origin/main")
    repo.replace(path, old, new)
    head = repo.commit(f"change {path}")
    repo.git("push", "-q", "origin", branch)
    harness.forge.pulls.open(number, head, head_ref=branch)
    assert harness.send_pull_request("opened", number, head, head_ref=branch).status_code == 202
    return head


def _merge(harness: BotHarness, number: int, branch: str) -> str:
    """Merge the branch into main on the remote (as the forge does, after whatever the bot pushed); the commit."""
    repo = harness.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "main", "origin/main")
    repo.git("merge", "-q", "--no-ff", branch, "-m", f"Merge pull request {number} from {branch}")
    merge = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", "main")
    harness.forge.pulls.merge(number, merge)
    return merge


def _answers(harness: BotHarness, number: int, count: int) -> list[str]:
    """The bot's answers (not its diff report) once there are `count` of them."""

    def answers() -> list[str] | None:
        found = [body for body in harness.bot_comments(number) if answer_of(body) is not None]
        return found if len(found) >= count else None

    return wait_for(f"{count} answer(s) on {number}", answers)


def _finished(harness: BotHarness, kind: str) -> int:
    """How many jobs of this kind are done (or failed for good)."""
    done = (JobState.DONE, JobState.FAILED)
    return sum(job.kind == kind and job.state in done for job in harness.bot.services.store.jobs())


def _cli_render(harness: BotHarness, revision: str, pipeline: str) -> list[dict[str, Any]]:
    """What `kpops-bot render` makes of the revision, as a user runs it (same chart mirror as the bot)."""
    mirrors = [f"{source}={target}" for source, target in harness.bot.settings.chart_mirrors.items()]
    arguments = ["render", "--repo", harness.remote.as_uri(), "--rev", revision, "--pipeline", pipeline]
    arguments += ["--environment", "dev", "--format", "json", "--workspace", str(harness.remote.parent / "cli")]
    for mirror in mirrors:
        arguments += ["--chart-mirror", mirror]
    env = {**os.environ, "KPOPS_BOT_HELM": "builtin"}
    completed = subprocess.run(
        [sys.executable, "-m", "kpops_bot", *arguments], capture_output=True, text=True, env=env, check=False
    )
    assert completed.returncode == 0, completed.stderr
    (render,) = json.loads(completed.stdout)["pipelines"]
    return [manifest for component in render["components"] for manifest in component["manifests"]]


def _committed_manifests(remote: Remote, folder: str) -> list[dict[str, Any]]:
    return [
        yaml.safe_load(remote.show(path))
        for path in remote.files(folder)
        if "/jobs/" not in path and not path.endswith("kustomization.yaml")
    ]


def _one_off_job(text: str, run_id: str) -> bool:
    """A committed Job of this run that runs once: no TTL (a finished Job stays, nothing creates it again), created
    once by Flux."""
    job = yaml.safe_load(text)
    return bool(
        job["kind"] == "Job"
        and job["metadata"]["name"].endswith(f"-{run_id}")
        and "ttlSecondsAfterFinished" not in job["spec"]
        and job["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    )


def _key(manifest: dict[str, Any]) -> tuple[str, str]:
    return manifest["kind"], manifest["metadata"]["name"]


def test_commands_are_authorized_answered_and_committed_then_the_merge_is_applied(harness: BotHarness) -> None:
    remote = Remote(harness.remote)
    head = _open(harness, 1, "scale", WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    assert harness.final_status(head) == harness.forge.success

    reader = harness.send_comment(1, "bob", "/kpops reset word-count")
    (refused,) = _answers(harness, 1, 1)
    assert "@bob, `reset` needs write permission on this repository; you have read permission." in refused
    assert not any(c.reactions for c in harness.forge.comments(1) if c.id == reader)
    before = remote.head()

    harness.send_comment(1, "bob", "/kpops diff word-count")  # everyone may ask for a diff
    diff = _answers(harness, 1, 2)[1]
    assert "word-count" in diff and "partitions" in diff.lower() and "kpops-bot:diff" not in diff
    assert harness.bot_comments(1)[0].startswith("<!-- kpops-bot:diff")  # the sticky report is still the first

    first = harness.send_comment(1, "alice", "/kpops reset word-count")
    answer = _answers(harness, 1, 3)[2]
    reacted = next(c for c in harness.forge.comments(1) if c.id == first)
    assert reacted.reactions and reacted.reactions[0] in ("eyes",)
    assert "✅" in answer and "job(s) in `rendered/dev/word-count/jobs/`" in answer
    assert remote.head() != before
    jobs = [path for path in remote.files("rendered/dev/word-count/jobs")]
    assert jobs and all(path.endswith(f"-c{first}.yaml") for path in jobs)
    assert _one_off_job(remote.show(jobs[0]), f"c{first}")
    assert f"`{remote.head()[:12]}`" in answer  # the answer links the commit
    message = remote.message()
    assert "kpops-bot: reset word-count for" in message and f"{COMMIT_TRAILER}:" in message
    kustomization = yaml.safe_load(remote.show("rendered/dev/word-count/kustomization.yaml"))
    assert kustomization["resources"] == [path.removeprefix("rendered/dev/word-count/") for path in jobs]

    second = harness.send_comment(1, "alice", "/kpops reset word-count")
    _answers(harness, 1, 4)
    again = remote.files("rendered/dev/word-count/jobs")
    assert len(again) == 2 * len(jobs)  # a second reset gets jobs of its own names, so it runs again
    assert any(path.endswith(f"-c{second}.yaml") for path in again)

    merge = _merge(harness, 1, "scale")
    assert harness.send_pull_request("merged", 1, head, merge_commit_sha=merge).status_code == 202
    assert harness.final_status(merge) == harness.forge.success
    applied = _answers(harness, 1, 5)[4]
    assert "applied" in applied and "committed" in applied
    expected = sorted(_cli_render(harness, merge, "word-count"), key=_key)
    committed = sorted(_committed_manifests(remote, "rendered/dev/word-count"), key=_key)
    assert committed == expected
    topics = {m["metadata"]["name"]: m["spec"]["partitions"] for m in committed if m["kind"] == "KafkaTopic"}
    assert topics["word-count-word-counter-topic"] == 6
    assert f"merge commit {merge}" in remote.message()
    assert len(remote.files("rendered/dev/word-count/jobs")) == len(again)  # an apply keeps the one-off jobs
    _builds_every_file(remote, "rendered/dev/word-count")
    bot_commit = remote.head()

    harness.send_pull_request("merged", 1, head, merge_commit_sha=merge)  # delivered again, as a new delivery
    wait_for("the second apply", lambda: _finished(harness, JobKind.APPLY) == 2)
    assert remote.head() == bot_commit  # nothing new to commit

    _assert_own_commit_skipped(harness, merge, bot_commit)


def _assert_own_commit_skipped(harness: BotHarness, before: str, bot_commit: str) -> None:
    """The bot's own GitOps commit, pushed to a deploy branch: the worker knows it by its committer and what it
    touches (as git says), applies nothing, commits nothing and writes no status on it."""
    remote = Remote(harness.remote)
    applies = _finished(harness, JobKind.APPLY)
    assert harness.send_push("main", before, bot_commit, remote.message(bot_commit)).json()["status"] == "queued"
    wait_for("the push's job", lambda: _finished(harness, JobKind.APPLY) == applies + 1)
    newest = max((job for job in harness.bot.services.store.jobs() if job.kind == JobKind.APPLY), key=lambda j: j.id)
    assert newest.outcome == "the bot's own commit is not applied again"
    assert remote.head() == bot_commit
    assert harness.forge.statuses(bot_commit) == []


def test_a_command_on_a_locked_pipeline_waits_and_runs_when_the_holder_merges(harness: BotHarness) -> None:
    remote = Remote(harness.remote)
    first_head = _open(harness, 1, "scale", WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    _open(harness, 2, "tune", WORD_COUNT, "tasks.max: 1", "tasks.max: 2")
    harness.send_comment(1, "alice", "/kpops reset word-count")
    assert "job(s)" in _answers(harness, 1, 1)[0]
    assert harness.bot.services.locks.held(f"{harness.forge.forge.value}:{harness.forge.repository.full_name}")

    waiting_comment = harness.send_comment(2, "carol", "/kpops reset word-count")
    (waiting,) = _answers(harness, 2, 1)
    sign = "#" if harness.forge.forge is Forge.GITHUB else "!"
    assert "⏳ Waiting for a lock" in waiting and f"`word-count (dev)` by {sign}1" in waiting
    assert "number 1 in line" in waiting
    assert not any(path.endswith(f"-c{waiting_comment}.yaml") for path in remote.files("rendered"))

    merge = _merge(harness, 1, "scale")
    harness.send_pull_request("merged", 1, first_head, merge_commit_sha=merge)
    ran = _answers(harness, 2, 2)[1]
    assert "job(s) in `rendered/dev/word-count/jobs/`" in ran
    assert any(path.endswith(f"-c{waiting_comment}.yaml") for path in remote.files("rendered/dev/word-count/jobs"))
    held = harness.bot.services.locks.held(f"{harness.forge.forge.value}:{harness.forge.repository.full_name}")
    assert set(held.values()) == {2}  # 1's locks went with its merge; 2 holds word-count now

    harness.send_comment(2, "bob", "/kpops destroy word-count")
    assert "needs maintain permission" in _answers(harness, 2, 3)[2]
    harness.send_comment(2, "carol", "/kpops destroy word-count")
    assert "`rendered/dev/word-count/` removed" in _answers(harness, 2, 4)[3]
    assert remote.files("rendered/dev/word-count") == []
    assert "kpops-bot: destroy word-count" in remote.message()

    harness.send_comment(2, "alice", "/kpops unlock")
    assert "🔓 Released `word-count (dev)`" in _answers(harness, 2, 5)[4]
    harness.forge.pulls.close(2)
    harness.send_pull_request("closed", 2, first_head, head_ref="tune")
    wait_for("nothing locked", lambda: not harness.bot.services.locks.repositories())


def test_a_deploy_waiting_for_a_lock_while_its_head_moves_is_refused_naming_both_commits(harness: BotHarness) -> None:
    """The attack: a writer's `/kpops deploy` waits for a lock, a new head is pushed meanwhile; when the lock is
    free the bot refuses, naming both commits, and deploys nothing (GitHub: the head its job recorded first; GitLab:
    the head its note named)."""
    remote = Remote(harness.remote)
    first_head = _open(harness, 1, "scale", WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    commented = _open(harness, 2, "tune", WORD_COUNT, "tasks.max: 1", "tasks.max: 2")
    harness.send_comment(1, "alice", "/kpops reset word-count")
    assert "job(s)" in _answers(harness, 1, 1)[0]
    harness.send_comment(2, "carol", "/kpops deploy word-count")
    assert "⏳ Waiting for a lock" in _answers(harness, 2, 1)[0]

    repo = harness.repo
    repo.replace(WORD_COUNT, "tasks.max: 2", "tasks.max: 9")
    pushed = repo.commit("Raise tasks.max further")
    repo.git("push", "-q", "origin", "tune")
    harness.forge.pulls.push(2, pushed)
    merge = _merge(harness, 1, "scale")
    harness.send_pull_request("merged", 1, first_head, merge_commit_sha=merge)

    refused = _answers(harness, 2, 2)[1]
    assert f"the head moved from `{commented[:7]}` to `{pushed[:7]}` after your comment" in refused
    assert f"comment again to deploy `{pushed[:7]}`" in refused
    assert "deploy" not in remote.git("log", "--format=%s", "main")  # only the reset and the merge's apply
    repository = f"{harness.forge.forge.value}:{harness.forge.repository.full_name}"
    assert harness.bot.services.locks.waiting(repository) == []  # the refused comment left the line


@pytest.mark.parametrize("push_first", [True, False], ids=["push-first", "merge-first"])
def test_a_merge_delivered_as_its_push_and_as_its_merge_is_applied_once(harness: BotHarness, push_first: bool) -> None:
    """`apply.push_branches: [main]`: a merge arrives as a push and as a merge event, in either order. One apply
    runs (one GitOps commit), the pull request gets one answer, the merge commit one final status."""
    remote = Remote(harness.remote)
    head = _open(harness, 1, "scale", WORD_COUNT, "partitions_count: 3", "partitions_count: 6")
    before = remote.head()
    merge = _merge(harness, 1, "scale")
    deliveries = [
        lambda: harness.send_push("main", before, merge, remote.message(merge)),
        lambda: harness.send_pull_request("merged", 1, head, merge_commit_sha=merge),
    ]
    for deliver in deliveries if push_first else deliveries[::-1]:
        assert deliver().status_code == 202
    wait_for("both applies", lambda: _finished(harness, JobKind.APPLY) == 2)
    (applied,) = [body for body in harness.bot_comments(1) if (answer_of(body) or ("",))[0] == f"apply:{merge}"]
    assert answer_of(applied) == (f"apply:{merge}", "ok")
    if not push_first:  # the merge's own answer: what changed, counted; the manifests in full stay in the commit
        assert "Resources changed per pipeline" in applied and "apiVersion" not in applied
    assert remote.git("log", "--format=%s", f"{merge}..main").count("kpops-bot: apply") == 1
    finals = [s for s in harness.forge.statuses(merge) if s.state != "pending"]
    assert [s.state for s in finals] == [harness.forge.success]


def test_two_pull_requests_merged_at_once_are_both_applied(harness: BotHarness) -> None:
    remote = Remote(harness.remote)
    heads = {
        1: _open(harness, 1, "scale", WORD_COUNT, "partitions_count: 3", "partitions_count: 6"),
        2: _open(harness, 2, "orders", ORDERS, "RATE: 100", "RATE: 250"),
    }
    merges = {1: _merge(harness, 1, "scale"), 2: _merge(harness, 2, "orders")}
    senders = [
        threading.Thread(
            target=harness.send_pull_request,
            args=("merged", number, heads[number]),
            kwargs={"merge_commit_sha": merges[number], "head_ref": "scale" if number == 1 else "orders"},
        )
        for number in (1, 2)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert harness.final_status(merges[1]) == harness.forge.success
    assert harness.final_status(merges[2]) == harness.forge.success
    assert remote.files("rendered/dev/word-count") and remote.files("rendered/dev/team-a-orders")
    orders = yaml.safe_load(remote.show("rendered/dev/team-a-orders/kustomization.yaml"))
    assert orders["metadata"]["annotations"]["kpops-bot/source-commit"] == merges[2]
    assert "250" in "".join(remote.show(path) for path in remote.files("rendered/dev/team-a-orders"))
    log = remote.git("log", "--format=%s", "main")
    assert "apply #1" in log.replace("!", "#") and "apply #2" in log.replace("!", "#")
    assert sorted(build_committed_folders(remote.path)) == ["rendered/dev/team-a-orders", "rendered/dev/word-count"]


def test_a_merge_whose_pipeline_does_not_render_reports_it_and_commits_nothing_for_it(harness: BotHarness) -> None:
    remote = Remote(harness.remote)
    repo = harness.repo
    head = _open(harness, 1, "broken", ORDERS, "RATE: 100", "RATE: 300")
    repo.replace(WORD_COUNT, "- type: streams-app", "- type: streams-app-that-does-not-exist")
    head = repo.commit("break word-count")
    repo.git("push", "-q", "origin", "broken")
    harness.forge.pulls.push(1, head)
    merge = _merge(harness, 1, "broken")
    harness.send_pull_request("merged", 1, head, merge_commit_sha=merge, head_ref="broken")
    assert harness.final_status(merge) == harness.forge.failure
    report = _answers(harness, 1, 1)[0]
    assert "❌" in report and "word-count" in report and "streams-app-that-does-not-exist" in report
    assert not remote.files("rendered/dev/word-count")
    assert remote.files("rendered/dev/team-a-orders")  # what rendered is applied


def test_start_up_releases_locks_of_pull_requests_closed_while_the_bot_was_down(harness: BotHarness) -> None:
    key = f"{harness.forge.forge.value}:{harness.forge.repository.full_name}"
    locks = harness.bot.services.locks
    word_count = Resource("dev", "word-count")
    harness.forge.pulls.open(1, "a" * 40)
    harness.forge.pulls.open(3, "c" * 40)
    comment = CommentEvent("d", harness.forge.repository, 3, 77, "alice", "/kpops help", False, False)
    unused = NewJob(f"{key}#0", JobKind.COMMAND, CommandRequest(replace(comment, number=0)))
    locks.acquire(key, 1, [Resource("dev", "team-a-orders")], wait_key="c1", then=unused)
    locks.acquire(key, 2, [word_count], wait_key="c2", then=unused)  # 2 is gone from the forge
    resume = NewJob(f"{key}#3", JobKind.COMMAND, CommandRequest(comment, resumed=True))
    assert isinstance(locks.acquire(key, 3, [word_count], wait_key="c3", then=resume), Waiting)
    harness.bot.reconcile_locks()
    assert locks.held(key) == {Resource("dev", "team-a-orders"): 1}
    assert [job.kind for job in harness.bot.services.store.jobs(f"{key}#3")] == [JobKind.COMMAND]  # 3's turn came


def test_a_squash_merge_carrying_the_bots_trailer_is_applied_and_the_bots_own_commit_is_not(
    harness: BotHarness,
) -> None:
    """Attack: a squash merge carries the pull request's messages, so its author can write the bot's trailer into
    one. Who committed it and what it touches say it is not the bot's: it is applied."""
    remote = Remote(harness.remote)
    repo = harness.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "main", "origin/main")
    before = repo.git("rev-parse", "HEAD")
    repo.replace(ORDERS, "RATE: 100", "RATE: 400")
    message = f"Raise the orders rate (#7)\n\n* raise it\n\n{COMMIT_TRAILER}: {before}\n"
    squash = repo.commit(message)  # committed by Test <test@example.com>, as the forge's squash would be by its own
    repo.git("push", "-q", "origin", "main")
    assert harness.send_push("main", before, squash, message).json()["status"] == "queued"
    assert harness.final_status(squash) == harness.forge.success
    assert remote.files("rendered/dev/team-a-orders")
    bot_commit = remote.head()
    assert bot_commit != squash and "kpops-bot: apply push to main" in remote.message()
    _assert_own_commit_skipped(harness, squash, bot_commit)


def test_a_push_to_a_deploy_branch_is_applied_and_the_pushed_commit_gets_the_status(harness: BotHarness) -> None:
    remote = Remote(harness.remote)
    repo = harness.repo
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", "main", "origin/main")
    before = repo.git("rev-parse", "HEAD")
    repo.replace(ORDERS, "RATE: 100", "RATE: 400")
    after = repo.commit("Raise the orders rate")
    repo.git("push", "-q", "origin", "main")
    assert harness.send_push("main", before, after, "Raise the orders rate").json()["status"] == "queued"
    assert harness.final_status(after) == harness.forge.success
    kustomization = yaml.safe_load(remote.show("rendered/dev/team-a-orders/kustomization.yaml"))
    assert kustomization["metadata"]["annotations"]["kpops-bot/source-commit"] == after
    assert "kpops-bot: apply push to main" in remote.message()
    assert remote.files("rendered/dev/word-count") == []  # only what the push changed


def test_a_repository_choosing_strimzi_gets_its_connector_previewed_refused_in_clear_and_committed(
    harness: BotHarness,
) -> None:
    remote = Remote(harness.remote)
    repo = harness.repo
    repo.write(".kpops-bot.yaml", "connectors: strimzi\nconnect_cluster: my-connect\n")
    repo.commit("Connectors as Strimzi KafkaConnectors")
    repo.git("push", "-q", "origin", "HEAD:main")
    literal = _open(harness, 5, "tasks", WORD_COUNT, "tasks.max: 1", "tasks.max: 2")
    assert harness.final_status(literal) == harness.forge.failure  # the literal password is a blocking danger
    report = harness.bot_comments(5)[0]
    assert "KafkaConnector word-count-redis-sink-connector" in report
    assert "`config.connection.password` holds a literal secret" in report and "changeme-in-vault" not in report

    reference = "${secrets:streaming/redis-credentials:password}"
    repo.replace(WORD_COUNT, "connection.password: changeme-in-vault", f'connection.password: "{reference}"')
    head = repo.commit("The password from a Secret")
    repo.git("push", "-q", "origin", "tasks")
    harness.forge.pulls.push(5, head)
    harness.send_pull_request("updated", 5, head, head_ref="tasks")
    assert harness.final_status(head) == harness.forge.success

    merge = _merge(harness, 5, "tasks")
    assert harness.send_pull_request("merged", 5, head, merge_commit_sha=merge).status_code == 202
    assert harness.final_status(merge) == harness.forge.success
    (applied,) = _answers(harness, 5, 1)
    assert "Not applied" not in applied
    connector = yaml.safe_load(
        remote.show("rendered/dev/word-count/kafkaconnector-word-count-redis-sink-connector.yaml")
    )
    assert connector["spec"]["tasksMax"] == 2 and connector["spec"]["config"]["connection.password"] == reference
    assert connector["metadata"]["labels"] == {"strimzi.io/cluster": "my-connect"}
    _builds_every_file(remote, "rendered/dev/word-count")
