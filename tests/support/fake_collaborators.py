"""In-memory collaborators of the workflows (`kpops_bot.workflows.ports`), for unit tests that run in milliseconds.

Each keeps the behaviour the workflows rely on (locks are held per pull request and waited for in line, a deployment
plans what it is told and records what it ran and published) and records its calls.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import git

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.engine.targets import UnknownPipelineError
from kpops_bot.events.model import Repository
from kpops_bot.gitops.layout import PipelineWrite
from kpops_bot.gitops.own_commits import Identity, Pushed
from kpops_bot.gitops.target import Published, ResourceChanges, Target
from kpops_bot.masking import Masker
from kpops_bot.model.forge import ForgeClient, PullRequest
from kpops_bot.model.locks import Granted, Released, Resource, Waiter, Waiting
from kpops_bot.model.render import Operation
from kpops_bot.pipelines import Pipeline
from kpops_bot.repo_config import Effective
from kpops_bot.store import NewJob
from kpops_bot.versions.index import WaitListener
from kpops_bot.workflows.steps import Step, StepResult

# What git says on stderr when the remote's proxy answers 502, and when the bot's disk fills during a fetch.
GIT_502 = "fatal: unable to access 'https://forge.test/acme/deployments.git/': The requested URL returned error: 502"
GIT_DISK_FULL = (
    "error: unable to write file objects/pack/tmp_pack_x: No space left on device\nfatal: unpack-objects failed"
)


def git_failure(wrapper: type[Exception], message: str, stderr: str, command: str = "fetch") -> Exception:
    """`wrapper(message)` raised from git's error with `stderr`, as `WorkspaceError` and `PublishError` are."""
    error = wrapper(message)
    error.__cause__ = git.GitCommandError(["git", command], 128, stderr)
    return error


def disk_full(path: str = "/data/workspace/checkouts/1-x") -> OSError:
    """The error any write on a full disk raises (errno 28)."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


@dataclass
class FakeDiff:
    """Answers every dry run with `report`, or raises `error`."""

    report: DiffReport | None = None
    error: Exception | None = None
    requests: list[tuple[DiffRequest, bool]] = field(default_factory=list)

    def __call__(
        self,
        request: DiffRequest,
        options: DiffOptions,
        *,
        trusted: bool,
        git_env: dict[str, str],
        on_wait: WaitListener | None = None,
    ) -> DiffReport:
        self.requests.append((request, trusted))
        if self.error is not None:
            raise self.error
        assert self.report is not None, "the test gave no report"
        return self.report


@dataclass
class FakeLocks:
    """Locks per (repository, resource), held by a pull request; others wait in line, once per wait key."""

    held: dict[tuple[str, Resource], int] = field(default_factory=dict)
    waiters: list[tuple[str, str, int, frozenset[Resource], NewJob]] = field(default_factory=list)
    released: list[tuple[str, int, list[str] | None, bool]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # the wait keys that left the line
    fail_release: list[Exception] = field(default_factory=list)  # raised by the next releases, one each (the store)

    def acquire(
        self, repository: str, number: int, resources: Collection[Resource], *, wait_key: str, then: NewJob
    ) -> Granted | Waiting:
        wanted = frozenset(resources)
        held_by = {
            resource: holder
            for (repo, resource), holder in self.held.items()
            if repo == repository and resource in wanted and holder != number
        }
        own = next((index for index, waiter in enumerate(self.waiters) if waiter[1] == wait_key), None)
        ahead = [
            waiter[2]
            for index, waiter in enumerate(self.waiters)
            if waiter[0] == repository and waiter[2] != number and (own is None or index < own) and waiter[3] & wanted
        ]
        if not held_by and not ahead:
            for resource in wanted:
                self.held[(repository, resource)] = number
            if own is not None:
                del self.waiters[own]
            return Granted()
        if own is None:
            self.waiters.append((repository, wait_key, number, wanted, then))
        return Waiting(position=len(ahead) + 1, held_by=held_by, ahead=ahead)

    def leave(self, repository: str, wait_key: str) -> Released:
        self.left.append(wait_key)
        self.waiters = [waiter for waiter in self.waiters if (waiter[0], waiter[1]) != (repository, wait_key)]
        return Released([], [])

    def release(
        self, repository: str, number: int, pipelines: Collection[str] | None = None, *, forget_waits: bool = False
    ) -> Released:
        if self.fail_release:
            raise self.fail_release.pop(0)
        self.released.append((repository, number, None if pipelines is None else list(pipelines), forget_waits))
        freed = sorted(
            resource
            for (repo, resource), holder in self.held.items()
            if repo == repository and holder == number and (pipelines is None or resource.pipeline in pipelines)
        )
        for resource in freed:
            del self.held[(repository, resource)]
        if forget_waits:
            self.waiters = [w for w in self.waiters if not (w[0] == repository and w[2] == number)]
        woken = [
            Waiter(index, waiter[2], waiter[3], waiter[4])
            for index, waiter in enumerate(self.waiters)
            if waiter[0] == repository and waiter[3] & set(freed)
        ]
        return Released(freed, woken)


def pipeline(name: str) -> Pipeline:
    return Pipeline(name, f"pipelines/{name}")


@dataclass
class FakeDeployment:
    """A deployment repository that plans the steps it is given and runs them as `outcome` says.

    `outcome(step)` is (ok, summary, write); the default succeeds and writes the pipeline's folder in
    manifest mode. `fail` raises an error from the named method (a WorkspaceError from git, a PublishError...).
    """

    planned: list[Step] = field(default_factory=list)
    known: tuple[str, ...] = ("word-count", "team-a-orders")
    ok: dict[str, bool] = field(default_factory=dict)  # pipeline → outcome (default: ok)
    publish_commit: str | None = "f" * 40
    kept_newer: list[str] = field(default_factory=list)
    changes: dict[str, ResourceChanges] = field(default_factory=dict)  # what publish reports per folder
    removed_jobs: list[str] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    opened: list[Repository] = field(default_factory=list)
    pushes: Pushed = field(default_factory=lambda: Pushed([Identity("Alice", "alice@example.com")], ["a.yaml"]))

    def open(self, repository: Repository, client: ForgeClient) -> FakeDeployment:
        self.opened.append(repository)
        return self

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise self.fail[name]

    def resolve(self, revision: str) -> str:
        self._call("resolve", revision)
        return revision if len(revision) == 40 else revision.ljust(40, "0")

    def change_base(self, before: str | None, commit: str, head_sha: str | None) -> str:
        self._call("change_base", before, commit, head_sha)
        return before or f"{commit}^"

    def command_steps(
        self,
        operation: Operation,
        pipelines: Sequence[str],
        environments: Sequence[str | None],
        pull: PullRequest,
        config: Effective,
        steps: tuple[str, ...] = (),
    ) -> list[Step]:
        self._call("command_steps", operation, tuple(pipelines), tuple(environments))
        commit = pull.head_sha if operation is Operation.DEPLOY else self.resolve(pull.base_ref)
        names = self._names(pipelines) if pipelines else [step.pipeline.name for step in self.planned]
        return [
            Step(operation, pipeline(name), environment, commit, steps)
            for environment in environments
            for name in names
        ]

    def _names(self, names: Sequence[str]) -> list[str]:
        unknown = [name for name in names if name not in self.known]
        if unknown:
            raise UnknownPipelineError(f"unknown pipeline '{unknown[0]}'; the pipelines are {', '.join(self.known)}")
        return list(names)

    def pushed(self, before: str, after: str) -> Pushed:
        self._call("pushed", before, after)
        return self.pushes

    def change_steps(self, before: str | None, commit: str, head_sha: str | None, config: Effective) -> list[Step]:
        self._call("change_steps", before, commit, head_sha)
        return [Step(step.operation, step.pipeline, step.environment, commit) for step in self.planned]

    def pipeline_names(self, revision: str, names: Sequence[str], config_dir: str) -> list[str]:
        self._call("pipeline_names", revision, tuple(names))
        return self._names(names)

    def run(
        self,
        steps: Sequence[Step],
        config: Effective,
        masker: Masker,
        run_id: str,
        *,
        execute: bool = True,
        trusted: bool = True,
    ) -> list[StepResult]:
        self._call("run", tuple(steps), run_id, execute, trusted)
        results = []
        for step in steps:
            folder = f"rendered/{step.environment or 'default'}/{step.pipeline.name}"
            ok = self.ok.get(step.pipeline.name, True)
            if not ok:
                results.append(StepResult(step, False, "pipelines/x/pipeline.yaml: invalid YAML (line 3)"))
                continue
            write = PipelineWrite(folder, step.commit, None if step.operation is Operation.DESTROY else {"a.yaml": ""})
            summary = f"`{folder}/` removed" if write.resources is None else f"1 manifest(s) in `{folder}/`"
            detail = "" if write.resources is None else "`a.yaml`\n```yaml\nkind: Deployment\n```"
            results.append(StepResult(step, True, summary, detail, write))
        return results

    def publish(self, target: Target, writes: Sequence[PipelineWrite], message: str) -> Published:
        self._call("publish", target.branch, tuple(write.folder for write in writes), message)
        return Published(self.publish_commit, list(self.kept_newer), list(self.removed_jobs), dict(self.changes))
