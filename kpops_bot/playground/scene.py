"""The bot's main job, played on the stage: alice opens a pull request, the bot posts its report, alice comments
`/kpops reset word-count`, the bot answers, alice merges, and the bot commits the rendered manifests to main.

Each step acts the way GitHub and a person do (push to the hosted repository, record the pull request, send the
signed delivery) and then waits for what the bot writes back through GitHub's API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from kpops_bot.playground.fake_github import StoredComment, StoredPull
from kpops_bot.playground.stage import BOT_LOGIN, FULL_NAME, Stage, git

T = TypeVar("T")
PIPELINE_FILE = "pipelines/word-count/pipeline.yaml"
PASSWORD_REFERENCE = "${secrets:streaming/redis-credentials:password}"
EDITS = (
    ("partitions_count: 3", "partitions_count: 6"),
    ("tasks.max: 1", "tasks.max: 2"),
    # A KafkaConnector carries no secret in clear: the password comes from a Kubernetes Secret through Strimzi's
    # config provider (with the literal, the bot would refuse to commit the connector).
    ("connection.password: changeme-in-vault", f'connection.password: "{PASSWORD_REFERENCE}"'),
)
TITLE = "word-count: six partitions, two connector tasks, the Redis password read from a Secret"
BRANCH = "scale-word-count"
COMMAND = "/kpops reset word-count"
REPORT_MARKER = "<!-- kpops-bot:diff"


class PlaygroundError(RuntimeError):
    """The bot did not do its part in time; the message says what was awaited."""


class Narrator(Protocol):
    def step(self, text: str) -> None:
        """A heading: what happens next."""

    def show(self, text: str) -> None:
        """What the bot wrote, as it is."""


@dataclass(frozen=True)
class Played:
    report: str  # the bot's comment on the pull request
    answer: str  # its answer to the command
    applied: str  # its answer to the merge
    commit: str  # `git show --stat` of its commit of rendered manifests on main


def play(stage: Stage, narrator: Narrator, timeout: float) -> Played:
    pull = _open_pull_request(stage, narrator)
    state = _wait(timeout, f"the status of {pull.head_sha[:12]}", lambda: _final_status(stage, pull.head_sha))
    report = _wait(timeout, "the bot's report", lambda: _bot_comment(stage, after=0, marker=REPORT_MARKER))
    narrator.step(f"The bot's comment on #1 (commit status kpops-bot: {state})")
    narrator.show(report.body)

    narrator.step(f"alice comments `{COMMAND}` on #1 (alice has write permission)")
    command = stage.fake.add_comment(FULL_NAME, pull.number, "alice", COMMAND)
    _delivered(stage.hooks.issue_comment(command).status_code, "issue_comment")
    answer = _wait(timeout, "the bot's answer to the command", lambda: _bot_comment(stage, after=command.id))
    narrator.step("The bot's answer")
    narrator.show(answer.body)

    merge = _merge(stage, pull, narrator)
    merged = _wait(timeout, f"the status of the merge commit {merge[:12]}", lambda: _final_status(stage, merge))
    applied = _wait(timeout, "the bot's answer to the merge", lambda: _bot_comment(stage, after=answer.id))
    narrator.step(f"The bot's answer to the merge (status of the merge commit: {merged})")
    narrator.show(applied.body)

    commit = git("--git-dir", str(stage.hosted), "show", "--stat=120", "--format=fuller", "main", cwd=stage.folder)
    narrator.step("The bot's commit of rendered manifests on main (git show --stat main)")
    narrator.show(commit)
    return Played(report.body, answer.body, applied.body, commit)


def _open_pull_request(stage: Stage, narrator: Narrator) -> StoredPull:
    clone = stage.clone
    git("checkout", "-q", "-b", BRANCH, cwd=clone)
    pipeline = clone / PIPELINE_FILE
    text = pipeline.read_text(encoding="utf-8")
    for old, new in EDITS:
        text = text.replace(old, new)
    pipeline.write_text(text, encoding="utf-8")
    git("commit", "-q", "-am", TITLE, cwd=clone)
    git("push", "-q", "origin", BRANCH, cwd=clone)
    head = git("rev-parse", "HEAD", cwd=clone)
    narrator.step(f"alice opens pull request #1 on {FULL_NAME}: {TITLE}")
    narrator.show(git("show", "--format=", "HEAD", cwd=clone))
    pull = stage.fake.set_pull(StoredPull(FULL_NAME, 1, "alice", BRANCH, head))
    _delivered(stage.hooks.pull_request("opened", pull, "alice").status_code, "pull_request")
    return pull


def _merge(stage: Stage, pull: StoredPull, narrator: Narrator) -> str:
    """Merge as GitHub's button does: a merge commit on main, whatever the bot committed there meanwhile."""
    clone = stage.clone
    git("fetch", "-q", "origin", cwd=clone)
    git("checkout", "-q", "-B", "main", "origin/main", cwd=clone)
    git("merge", "-q", "--no-ff", BRANCH, "-m", f"Merge pull request #1 from acme/{BRANCH}", cwd=clone)
    git("push", "-q", "origin", "main", cwd=clone)
    merge = git("rev-parse", "HEAD", cwd=clone)
    pull.state, pull.merged, pull.merge_commit_sha = "closed", True, merge
    narrator.step(f"alice merges #1 (merge commit {merge[:12]})")
    _delivered(stage.hooks.pull_request("closed", pull, "alice").status_code, "pull_request")
    return merge


def _delivered(status_code: int, event: str) -> None:
    if status_code != 202:
        msg = f"the bot refused the {event} delivery with HTTP {status_code}"
        raise PlaygroundError(msg)


def _final_status(stage: Stage, sha: str) -> str | None:
    statuses = stage.fake.commit_statuses(FULL_NAME, sha)
    if not statuses or statuses[-1].state == "pending":
        return None
    return f"{statuses[-1].state}, {statuses[-1].description}"


def _bot_comment(stage: Stage, after: int, marker: str = "") -> StoredComment | None:
    """The bot's first comment on #1 newer than comment `after` (ids grow) that starts with `marker`."""
    return next(
        (
            comment
            for comment in sorted(stage.fake.pr_comments(FULL_NAME, 1), key=lambda c: c.id)
            if comment.login == BOT_LOGIN and comment.id > after and comment.body.startswith(marker)
        ),
        None,
    )


def _wait(timeout: float, what: str, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.2)
    msg = f"no {what} within {timeout:.0f} s"
    raise PlaygroundError(msg)
