"""Two `kpops-bot serve` replicas on one PostgreSQL, on GitHub and on GitLab: deliveries spread over both, one
killed mid-job (its job is taken over by the other within seconds), and still every pull request gets one report,
every command one answer, every merge one commit, and a pipeline locked through one replica makes a comment sent to
the other wait."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.report.identity import answer_of, is_part
from kpops_bot.settings import ApplySettings
from kpops_bot.store import JobState, Store
from testbed.harness import Deliveries, running_replicas, wait_for
from testbed.postgres import fresh_database
from testbed.repos import GitRepo

pytestmark = pytest.mark.bot_process
WORD_COUNT = "pipelines/word-count/pipeline.yaml"
NEW_COMMENT = {Forge.GITHUB: r"/issues/\d+/comments$", Forge.GITLAB: r"/merge_requests/\d+/notes$"}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _branch(repo: GitRepo, number: int) -> str:
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "-B", f"pr-{number}", "origin/main")
    repo.replace(WORD_COUNT, "partitions_count: 3", f"partitions_count: {3 + number}")
    head = repo.commit(f"partitions of word-count for {number}")
    repo.git("push", "-q", "origin", f"pr-{number}")
    return head


def _answers(deliveries: Deliveries, number: int) -> list[str]:
    return [body for body in deliveries.bot_comments(number) if answer_of(body) is not None]


def _reports(deliveries: Deliveries, number: int) -> list[str]:
    return [body for body in deliveries.bot_comments(number) if is_part(body)]


@pytest.mark.parametrize("forge_kind", [Forge.GITHUB, Forge.GITLAB])
def test_two_replicas_share_the_work_and_a_killed_one_loses_nothing(
    engine_settings: EngineSettings, tmp_path: Path, deployment_repo: GitRepo, postgres_url: str, forge_kind: Forge
) -> None:
    url = fresh_database(postgres_url)
    store = Store(url)
    with running_replicas(
        forge_kind,
        engine_settings,
        tmp_path,
        deployment_repo,
        url,
        environments={"main": ["dev"]},
        apply=ApplySettings(push_branches=["main"]),
        lease_seconds=600,  # only the heartbeat can hand a dead replica's job over in time
    ) as running:
        forge, bare, senders = running.forge, running.remote, running.senders
        replicas = {bot.replica: bot for bot in running.bots}
        try:
            heads = {number: _branch(deployment_repo, number) for number in range(1, 5)}
            forge.faults.late[NEW_COMMENT[forge_kind]] = 120  # reports stored, their answers held: replicas mid-job
            for number, head in heads.items():
                forge.pulls.open(number, head, head_ref=f"pr-{number}")
                senders[number % 2].send_pull_request("opened", number, head, head_ref=f"pr-{number}")
            reported = wait_for("a report stored", lambda: [n for n in heads if _reports(senders[0], n)])
            (victim_job,) = [
                job for job in store.jobs() if job.state is JobState.RUNNING and job.key.endswith(f"#{reported[0]}")
            ]
            assert victim_job.replica_id is not None
            victim = replicas[victim_job.replica_id]
            victim.kill()
            forge.faults.late.clear()
            for number, head in heads.items():
                assert wait_for(f"{head[:7]} final", lambda h=head: _final(senders[0], h)) == "success"
                assert len(_reports(senders[0], number)) == 1
            taken_over = store.job(victim_job.id)
            assert taken_over.state is JobState.DONE and taken_over.replica_id != victim_job.replica_id
            assert len({job.replica_id for job in store.jobs()} - {None}) <= 2
            victim.start()

            _locks_hold_across_replicas(senders, heads, store, bare)
        finally:
            store.close()


def _commits(bare: Path) -> int:
    """Commits on main, merges counted once."""
    return int(_git(bare, "rev-list", "--first-parent", "--count", "main"))


def _locks_hold_across_replicas(senders: list[Deliveries], heads: dict[int, str], store: Store, bare: Path) -> None:
    """Comments on two pull requests, one to each replica, both resetting word-count: one runs, one waits; the
    holder merged, its apply commits once and the waiting comment runs."""
    forge, deployment_repo = senders[0].forge, senders[0].repo
    commits = _commits(bare)
    senders[0].send_comment(1, "alice", "/kpops reset word-count")
    senders[1].send_comment(2, "alice", "/kpops reset word-count")
    wait_for("both answered", lambda: _answers(senders[0], 1) and _answers(senders[0], 2))
    answers = {number: _answers(senders[0], number) for number in (1, 2)}
    waiting = [number for number, bodies in answers.items() if "Waiting for a lock" in bodies[0]]
    assert len(waiting) == 1 and all(len(bodies) == 1 for bodies in answers.values())
    assert _commits(bare) == commits + 1

    # The holder merged, its merge event to one replica and its push (`apply.push_branches`) to the other: one
    # apply commits once, the pull request gets one apply answer, and the waiting comment runs.
    holder = ({1, 2} - set(waiting)).pop()
    deployment_repo.git("fetch", "-q", "origin")
    deployment_repo.git("checkout", "-q", "-B", "main", "origin/main")
    before = deployment_repo.git("rev-parse", "HEAD")
    deployment_repo.git("merge", "-q", "--no-ff", f"pr-{holder}", "-m", f"Merge pull request {holder}")
    merge = deployment_repo.git("rev-parse", "HEAD")
    deployment_repo.git("push", "-q", "origin", "main")
    forge.pulls.merge(holder, merge)
    senders[holder % 2].send_pull_request(
        "merged", holder, heads[holder], head_ref=f"pr-{holder}", merge_commit_sha=merge
    )
    senders[(holder + 1) % 2].send_push("main", before, merge, f"Merge pull request {holder}")
    wait_for("the waiting comment answered again", lambda: len(_answers(senders[0], waiting[0])) == 2)
    assert wait_for("the merge's final status", lambda: _final(senders[0], merge)) == "success"
    unfinished = {JobState.QUEUED, JobState.RUNNING}
    wait_for("every job done", lambda: not {job.state for job in store.jobs()} & unfinished)
    assert len(_answers(senders[0], holder)) == 2  # the reset's answer, the apply's answer
    # The reset, the merge, the apply's manifests (one for the merge event and its push), the second reset: each once.
    assert _commits(bare) == commits + 4
    assert JobState.FAILED not in {job.state for job in store.jobs()}


def _final(deliveries: Deliveries, sha: str) -> str | None:
    statuses = deliveries.forge.statuses(sha)
    return statuses[-1].state if statuses and statuses[-1].state != "pending" else None
