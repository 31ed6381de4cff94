"""The narrow collaborators the workflows take, each a small protocol.

The running bot wires the real ones (`kpops_bot.services`, from `kpops_bot.adapters`); unit tests give in-memory
fakes, so every branch of a workflow runs without git, kpops or a database. Plain data: this module imports values
and protocols only, never an adapter, the store, git or the render pool (`tests/test_architecture.py` checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import DiffReport
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.events.model import Forge, Repository
from kpops_bot.gitops.layout import PipelineWrite
from kpops_bot.gitops.own_commits import Pushed
from kpops_bot.gitops.target import Published, Target
from kpops_bot.jobs import Job, JobKind, NewJob, StoredJob
from kpops_bot.masking import Masker
from kpops_bot.model.forge import ForgeClient, PullRequest
from kpops_bot.model.locks import Granted, Released, Resource, Waiting
from kpops_bot.model.render import Operation
from kpops_bot.repo_config import Effective
from kpops_bot.versions.index import WaitListener
from kpops_bot.workflows.steps import Step, StepResult

ForgeFor = Callable[[Forge], ForgeClient]
"""The client of a forge."""

Superseded = Callable[[Job[Any], Sequence[JobKind]], StoredJob | None]
"""The newest job of these kinds for the same key queued after this one, if any."""

HeadRecord = Callable[[int, str], str]
"""The head a command job is bound to: (job id, the head seen now) -> the head recorded first (`Store.record_head`)."""


class DiffRunner(Protocol):
    """The dry run of a pull request: affected pipelines rendered at both sides and diffed."""

    def __call__(
        self,
        request: DiffRequest,
        options: DiffOptions,
        *,
        trusted: bool,
        git_env: dict[str, str],
        on_wait: WaitListener | None = None,
    ) -> DiffReport:
        """`on_wait` hears that the dry run waits for the environment of a kpops release to be built."""
        ...


class LockBook(Protocol):
    """Pipeline locks of pull requests; a release queues again the comments that waited for what it frees."""

    def acquire(
        self, repository: str, number: int, resources: Collection[Resource], *, wait_key: str, then: NewJob
    ) -> Granted | Waiting: ...

    def release(
        self, repository: str, number: int, pipelines: Collection[str] | None = None, *, forget_waits: bool = False
    ) -> Released: ...

    def leave(self, repository: str, wait_key: str) -> Released:
        """Drop a wait from the line; who waited behind it for the same resources may go on."""
        ...


class DeploymentRepository(Protocol):
    """A deployment repository as commands and applies use it: steps planned, run in the mode, published."""

    def resolve(self, revision: str) -> str: ...

    def command_steps(
        self,
        operation: Operation,
        pipelines: Sequence[str],
        environments: Sequence[str | None],
        pull: PullRequest,
        config: Effective,
        steps: tuple[str, ...] = (),
    ) -> list[Step]:
        """A command's steps: deploy acts on the head, the others on the base branch (what is deployed);
        no names: what the pull request changes or adds."""
        ...

    def change_steps(self, before: str | None, commit: str, head_sha: str | None, config: Effective) -> list[Step]:
        """An apply's steps: deploy what `commit` changed or added since `before`, destroy what it removed."""
        ...

    def change_base(self, before: str | None, commit: str, head_sha: str | None) -> str:
        """The commit a change's pipelines are judged against: where a merged head left the base branch."""
        ...

    def pushed(self, before: str, after: str) -> Pushed:
        """What a push brought, as git records it: the new commits' committers, the paths changed."""
        ...

    def pipeline_names(self, revision: str, names: Sequence[str], config_dir: str) -> list[str]:
        """kpops' names of the named pipelines (names or folders); unknown ones raise `UnknownPipelineError`."""
        ...

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
        """`trusted=False` renders without secret variables, as `head_code` decided for a fork's head."""
        ...

    def publish(self, target: Target, writes: Sequence[PipelineWrite], message: str) -> Published:
        """Commit the writes to the GitOps target, keeping folders a newer commit of this repository wrote."""
        ...


OpenRepository = Callable[[Repository, ForgeClient], DeploymentRepository]
"""The deployment repository of a forge's repository, fetched with the client's credentials."""


class DriftSource(Protocol):
    """What a drift check reads: the deploy branch rendered (nothing executed, nothing published)."""

    def resolve(self, revision: str) -> str: ...

    def render_everything(self, commit: str, config: Effective, masker: Masker) -> list[StepResult]: ...
