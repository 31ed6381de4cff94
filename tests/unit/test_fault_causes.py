"""Which failures are the surroundings' (retried) and which the job's own (answered), read from real errors: git
against a loopback git host answering 502, refusing a token or not listening; the forge clients after their
retries; a full disk; SQLite locked."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from github import GithubException
from starlette.applications import Starlette

from kpops_bot.adapters.deployment import GitDeploymentRepository
from kpops_bot.engine.targets import Renderer
from kpops_bot.events.model import Forge
from kpops_bot.fault_causes import git_text_fault, raise_if_transient, transient_fault, transient_faults
from kpops_bot.faults import FaultKind, TransientFault
from kpops_bot.forges.github import TRANSIENCE as GITHUB_TRANSIENCE
from kpops_bot.forges.github import GitHubClient
from kpops_bot.gitops.layout import PipelineWrite
from kpops_bot.gitops.publish import PublishError, publish
from kpops_bot.gitops.target import Target
from kpops_bot.managed import Isolation
from kpops_bot.model.forge import ForgeError
from kpops_bot.playground.asgi_server import ThreadedServer, free_port
from kpops_bot.playground.git_http import GitHttp
from kpops_bot.repo_config import RepoConfig, effective
from kpops_bot.sandbox.layers import Layer
from kpops_bot.settings import BotSettings, GitHubSettings
from kpops_bot.workspace import Workspace, WorkspaceError, http_auth_env
from testbed.forges import FAST_RETRIES, running_forge
from testbed.repos import GitRepo
from tests.support.fake_collaborators import git_failure

TOKEN = "t0ken-s3cret"


class GitHost:
    """A bare repository served by git's smart HTTP on loopback, as the forges serve it."""

    def __init__(self, bare: Path, url: str, http: GitHttp) -> None:
        self.bare = bare
        self.url = url
        self.http = http

    def env(self, token: str = TOKEN) -> dict[str, str]:
        return http_auth_env("x-access-token", token, self.url.rsplit("/", 2)[0] + "/")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[GitHost]:
    repo = GitRepo(tmp_path / "source")
    repo.write("pipelines/a/pipeline.yaml", "[]\n")
    repo.commit("first")
    bare = repo.bare_clone(tmp_path / "remote.git")
    http = GitHttp(lambda name: bare if name == "acme/deployments" else None, lambda token: token == TOKEN)
    with ThreadedServer(http(Starlette())) as server:
        yield GitHost(bare, f"{server.url}/acme/deployments.git", http)


def _fault(error: BaseException) -> tuple[FaultKind, str] | None:
    fault = transient_fault(error)
    return None if fault is None else (fault.kind, str(fault))


def test_a_git_remote_answering_502_is_transient_on_clone_and_fetch(tmp_path: Path, host: GitHost) -> None:
    workspace = Workspace(tmp_path / "workspace")
    host.http.fail(502)
    with pytest.raises(WorkspaceError) as cloning:
        workspace.repository(host.url, git_env=host.env())
    kind, message = _fault(cloning.value) or (None, "")
    assert kind is FaultKind.GIT
    assert message.startswith(f"the git remote answered 502: cannot clone {host.url}: ")
    workspace.repository(host.url, git_env=host.env())  # the remote is back
    host.http.fail(502)
    with pytest.raises(WorkspaceError) as fetching:
        workspace.repository(host.url, git_env=host.env())
    assert _fault(fetching.value) == (FaultKind.GIT, f"the git remote answered 502: {fetching.value}")
    assert host.http.faulted and all(status == 502 for _, status in host.http.faulted)


def test_a_refused_token_and_an_unknown_repository_are_the_jobs_own(tmp_path: Path, host: GitHost) -> None:
    workspace = Workspace(tmp_path / "workspace")
    with pytest.raises(WorkspaceError) as refused:
        workspace.repository(host.url, git_env=host.env("wrong"))
    assert transient_fault(refused.value) is None
    with pytest.raises(WorkspaceError) as unknown:
        workspace.repository(host.url.replace("deployments", "nothing"), git_env=host.env())
    assert transient_fault(unknown.value) is None


def test_a_git_remote_that_does_not_listen_could_not_be_reached(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/acme/deployments.git"
    with pytest.raises(WorkspaceError) as error:
        Workspace(tmp_path / "workspace").repository(url)
    fault = transient_fault(error.value)
    assert fault is not None and fault.kind is FaultKind.GIT
    assert str(fault).startswith("the git remote could not be reached: cannot clone")


def test_a_merged_heads_fetch_meeting_a_502_is_not_taken_for_a_head_that_is_gone(tmp_path: Path, host: GitHost) -> None:
    """An apply fetches the merged pull request's head when the mirror lacks it (a rebase merge): a remote failing
    for a while must not make it apply the merge commit alone."""
    repository = Workspace(tmp_path / "workspace").repository(host.url, git_env=host.env())
    main = repository.resolve("main")

    def no_render(_trusted: bool) -> Renderer:
        raise AssertionError("nothing is rendered before the head is known")

    settings = BotSettings(data_dir=tmp_path / "bot")
    deployment = GitDeploymentRepository(repository, settings, no_render, None, Isolation(Layer.OFF))
    host.http.fail(502)
    with pytest.raises(TransientFault) as raised:
        deployment.change_steps(main, main, "f" * 40, effective(settings, RepoConfig(), "main"))
    assert raised.value.kind is FaultKind.GIT
    assert host.http.faulted


def _target(host: GitHost) -> Target:
    return Target(host.url, "main", host.env(), "kpops-bot", "bot@example.com", attempts=2)


def _write() -> list[PipelineWrite]:
    return [PipelineWrite("rendered/dev/a", "c" * 40, {"a.yaml": "kind: ConfigMap\n"})]


def test_a_push_answered_502_is_transient_a_push_refused_by_a_hook_is_not(host: GitHost) -> None:
    host.http.fail(502, matching="service=git-receive-pack")
    with pytest.raises(PublishError) as answered:
        publish(_target(host), _write(), "apply\n", lambda _recorded, _ours: False)
    assert _fault(answered.value) == (FaultKind.GIT, f"the git remote answered 502: {answered.value}")
    hook = host.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(PublishError) as refused:
        publish(_target(host), _write(), "apply\n", lambda _recorded, _ours: False)
    assert "pre-receive hook declined" in str(refused.value.__cause__)
    assert transient_fault(refused.value) is None


@pytest.mark.parametrize("forge", [Forge.GITHUB, Forge.GITLAB], ids=["github", "gitlab"])
def test_a_forge_failing_after_the_clients_retries_is_transient_unless_it_refused(tmp_path: Path, forge: Forge) -> None:
    with running_forge(forge, GitRepo(tmp_path / "repo").path) as running:
        running.faults.add(502, FAST_RETRIES.attempts)
        with pytest.raises(ForgeError) as unavailable:
            running.client.pull_request(running.repository, 1)
        assert _fault(unavailable.value) == (FaultKind.FORGE, f"the forge answered 502: {unavailable.value}")
        with pytest.raises(ForgeError) as missing:  # no pull request 404: the job's own
            running.client.pull_request(running.repository, 404)
        assert transient_fault(missing.value) is None


def test_a_forge_that_does_not_listen_could_not_be_reached() -> None:
    settings = GitHubSettings(api_url=f"http://127.0.0.1:{free_port()}", token="bot-token")  # type: ignore[arg-type]
    with pytest.raises(ForgeError) as error:
        GitHubClient(settings, FAST_RETRIES).bot_name()
    fault = transient_fault(error.value)
    assert fault is not None and (fault.kind, str(fault).partition(": ")[0]) == (
        FaultKind.FORGE,
        "the forge could not be reached",
    )


def test_a_full_disk_anywhere_is_transient_other_os_errors_are_not(tmp_path: Path) -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "cache" / "x.json"))
    assert _fault(full) == (FaultKind.DISK, f"the bot's disk is full: {full}")
    wrapped = WorkspaceError("cannot check out abc")
    wrapped.__cause__ = full
    assert _fault(wrapped) == (FaultKind.DISK, "the bot's disk is full: cannot check out abc")
    assert git_text_fault("error: unable to write sha1 file: No space left on device") == (
        FaultKind.DISK,
        "the bot's disk is full",
    )
    assert transient_fault(PermissionError(errno.EACCES, "Permission denied")) is None


def test_a_locked_database_is_transient_a_missing_table_is_not(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("create table jobs (id integer)")
    holder.execute("begin exclusive")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(sa.exc.OperationalError) as locked, engine.connect() as connection:
            connection.execute(sa.text("select * from jobs"))
        assert _fault(locked.value) == (FaultKind.STORE, f"the bot's database is unavailable: {_first(locked.value)}")
        holder.execute("rollback")
        with pytest.raises(sa.exc.OperationalError) as missing, engine.connect() as connection:
            connection.execute(sa.text("select * from nothing"))
        assert transient_fault(missing.value) is None
    finally:
        engine.dispose()
        holder.close()


def _first(error: BaseException) -> str:
    return str(error).splitlines()[0]


def test_a_fault_keeps_no_credentials_and_passes_through_unchanged() -> None:
    url = "https://x-access-token:s3cret@forge.test/a.git"
    error = git_failure(WorkspaceError, f"cannot fetch {url}: returned error: 503", "returned error: 503")
    fault = transient_fault(error)
    assert fault is not None and "s3cret" not in str(fault) and "***@forge.test" in str(fault)
    with pytest.raises(TransientFault) as raised, transient_faults():
        raise fault
    assert raised.value is fault
    with pytest.raises(TransientFault) as converted:
        raise_if_transient(error)
    assert converted.value.__cause__ is error
    raise_if_transient(ValueError("a render error"))  # the job's own: nothing raised


def test_githubs_secondary_rate_limit_after_the_clients_retries_is_transient_other_403s_are_not() -> None:
    def failed(message: str) -> ForgeError:  # as the client words a call it gave up on, with its own verdict
        error = GithubException(403, {"message": message})
        failure = ForgeError("GitHub comments: HTTP 403", status=403, transient=GITHUB_TRANSIENCE.is_transient(error))
        failure.__cause__ = error
        return failure

    limited = failed("You have exceeded a secondary rate limit.")
    assert _fault(limited) == (FaultKind.FORGE, "the forge's rate limit is reached: GitHub comments: HTTP 403")
    assert transient_fault(failed("Resource not accessible by integration")) is None


def test_a_postgresql_that_does_not_listen_is_a_store_fault() -> None:
    engine = sa.create_engine(f"postgresql+psycopg://kpops@127.0.0.1:{free_port()}/kpops")
    try:
        with pytest.raises(sa.exc.OperationalError) as error, engine.connect():
            pass
    finally:
        engine.dispose()
    fault = transient_fault(error.value)
    assert fault is not None and fault.kind is FaultKind.STORE
    assert str(fault).startswith("the bot's database is unavailable: (psycopg.OperationalError)")
