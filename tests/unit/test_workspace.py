"""The git workspace against real repositories: local paths and file:// URLs."""

from __future__ import annotations

import functools
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import git
import pytest

from kpops_bot.workspace import Workspace, WorkspaceError, http_auth_env, redact_url
from testbed.repos import GitRepo


def test_one_cached_clone_per_repository(workspace: Workspace, deployment_repo: GitRepo) -> None:
    first = workspace.repository(str(deployment_repo.path))
    second = workspace.repository(f"{deployment_repo.path}/")
    by_url = workspace.repository(deployment_repo.path.as_uri())
    assert first.path == second.path
    assert by_url.path != first.path, "a URL is its own cache entry"
    assert len(list((workspace.root / "mirrors").glob("*.git"))) == 2


def test_checkout_materialises_a_revision_and_is_removed(workspace: Workspace, deployment_repo: GitRepo) -> None:
    base = deployment_repo.git("rev-parse", "HEAD")
    deployment_repo.replace("pipelines/word-count/pipeline.yaml", "replicaCount: 2", "replicaCount: 7")
    head = deployment_repo.commit("more replicas")
    repository = workspace.repository(deployment_repo.path.as_uri())
    with repository.checkout(repository.resolve(base)) as old, repository.checkout(repository.resolve("main")) as new:
        assert "replicaCount: 2" in (old / "pipelines/word-count/pipeline.yaml").read_text()
        assert "replicaCount: 7" in (new / "pipelines/word-count/pipeline.yaml").read_text()
        assert not (old / ".git").exists()
    assert not old.exists() and not new.exists()
    assert repository.resolve(head[:10]) == head


def test_fetch_brings_new_commits_into_the_existing_mirror(workspace: Workspace, deployment_repo: GitRepo) -> None:
    repository = workspace.repository(str(deployment_repo.path))
    marker = repository.path / "kpops-bot-marker"
    marker.write_text("same mirror")
    deployment_repo.write("pipelines/new/pipeline.yaml", "[]\n")
    new_commit = deployment_repo.commit("new pipeline")
    assert repository.resolve(new_commit) == new_commit, "an unknown commit triggers one fetch"
    assert "pipelines/new/pipeline.yaml" in repository.files(new_commit)
    newer_commit = deployment_repo.commit("another")
    assert repository.resolve("main") == new_commit, "a known branch is not fetched on every look-up"
    assert workspace.repository(str(deployment_repo.path)).resolve("main") == newer_commit, "opening it fetches"
    assert marker.read_text() == "same mirror", "updated in place, not cloned again"


def test_a_branch_lists_its_newest_files_and_a_listing_handed_out_cannot_change_the_next(
    workspace: Workspace, deployment_repo: GitRepo
) -> None:
    repository = workspace.repository(str(deployment_repo.path))
    first = repository.resolve("main")
    assert "pipelines/new/pipeline.yaml" not in repository.files("main")
    repository.blobs(first)["planted.yaml"] = "0" * 40
    repository.files(first).append("planted.yaml")
    deployment_repo.write("pipelines/new/pipeline.yaml", "[]\n")
    deployment_repo.commit("new pipeline")
    repository.fetch()
    assert "pipelines/new/pipeline.yaml" in repository.files("main")
    assert "pipelines/new/pipeline.yaml" in repository.blobs("main")
    assert "planted.yaml" not in repository.blobs(first) and "planted.yaml" not in repository.files(first)
    assert "pipelines/new/pipeline.yaml" not in repository.files(first)


def test_changed_paths_and_merge_base(workspace: Workspace, deployment_repo: GitRepo) -> None:
    fork_point = deployment_repo.git("rev-parse", "HEAD")
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.git("mv", "pipelines/team-a", "pipelines/sales")
    feature = deployment_repo.commit("move team-a")
    deployment_repo.git("checkout", "-q", "main")
    deployment_repo.write("README.md", "changed on main\n")
    deployment_repo.commit("main moves on")
    repository = workspace.repository(str(deployment_repo.path))
    assert repository.merge_base("main", "feature") == fork_point
    changed = repository.changed_paths(fork_point, feature)
    assert "pipelines/team-a/orders/pipeline.yaml" in changed
    assert "pipelines/sales/orders/pipeline.yaml" in changed
    assert "README.md" not in changed
    assert repository.read(feature, "pipelines/sales/orders/pipeline.yaml") is not None
    assert repository.read(feature, "pipelines/team-a/orders/pipeline.yaml") is None


def test_a_checkout_of_only_some_files_has_those_and_the_folders_of_the_first_two_levels(
    workspace: Workspace, deployment_repo: GitRepo
) -> None:
    deployment_repo.write("pipelines/odd name [x]*.yaml", "literal: path\n")  # a pattern's characters, taken as is
    deployment_repo.commit("a file named like a pattern")
    repository = workspace.repository(str(deployment_repo.path))
    commit = repository.resolve("main")
    wanted = {"config.yaml", "pipelines/word-count/pipeline.yaml", "pipelines/odd name [x]*.yaml"}
    with repository.checkout(commit, only=wanted) as sparse, repository.checkout(commit) as full:
        files = {str(path.relative_to(sparse)) for path in sparse.rglob("*") if path.is_file()}
        assert files == wanted
        for path in wanted:
            assert (sparse / path).read_bytes() == (full / path).read_bytes()
        top = {str(path.relative_to(full)) for path in [*full.glob("*"), *full.glob("*/*")] if path.is_dir()}
        assert top >= {"kpops", "kpops/components", "pipelines", "pipelines/team-a", "pipelines/word-count"}
        holding = {str(parent) for path in wanted for parent in Path(path).parents if str(parent) != "."}
        assert {str(path.relative_to(sparse)) for path in sparse.rglob("*") if path.is_dir()} == top | holding
    with repository.checkout(commit, only=set()) as empty:
        assert not [path for path in empty.rglob("*") if path.is_file()]
    assert not sparse.exists() and not empty.exists()


@pytest.mark.subprocess  # git in bulk: eighteen fetches and checkouts at once
def test_concurrent_checkouts_never_collide(workspace: Workspace, deployment_repo: GitRepo) -> None:
    commits = []
    for replicas in range(3, 9):
        deployment_repo.replace(
            "pipelines/word-count/pipeline.yaml",
            f"replicaCount: {replicas - 1 if replicas > 3 else 2}",
            f"replicaCount: {replicas}",
        )
        commits.append((replicas, deployment_repo.commit(f"{replicas} replicas")))
    source = str(deployment_repo.path)

    def read_back(item: tuple[int, str]) -> bool:
        replicas, commit = item
        repository = workspace.repository(source)
        repository.fetch()
        with repository.checkout(commit) as folder:
            return f"replicaCount: {replicas}" in (folder / "pipelines/word-count/pipeline.yaml").read_text()

    with ThreadPoolExecutor(max_workers=6) as executor:
        assert all(executor.map(read_back, commits * 3))
    assert list((workspace.root / "checkouts").iterdir()) == []


def test_unknown_revision_and_repository(workspace: Workspace, deployment_repo: GitRepo, tmp_path: Path) -> None:
    repository = workspace.repository(str(deployment_repo.path))
    with pytest.raises(WorkspaceError, match="revision 'no-such-branch' not found"):
        repository.resolve("no-such-branch")
    with pytest.raises(WorkspaceError, match="cannot clone"):
        workspace.repository(str(tmp_path / "missing"))
    assert not list((workspace.root / "mirrors").glob("*.partial"))


def test_credentials_never_appear_in_messages(workspace: Workspace) -> None:
    assert redact_url("https://x-access-token:ghs_secret@github.example/org/repo.git") == (
        "https://***@github.example/org/repo.git"
    )
    with pytest.raises(WorkspaceError) as raised:
        workspace.repository("https://user:hunter2@127.0.0.1:1/repo.git")
    assert "hunter2" not in str(raised.value)


class _AuthenticatedGitHandler(SimpleHTTPRequestHandler):
    """git's dumb HTTP protocol (static files) behind basic auth, as a private repository is."""

    expected: ClassVar[str] = ""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_credentials_reach_git_as_a_header_never_in_the_url_or_the_mirror(
    workspace: Workspace, deployment_repo: GitRepo, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    deployment_repo.bare_clone(served / "repo.git")
    subprocess.run(["git", "--git-dir", str(served / "repo.git"), "update-server-info"], check=True)
    handler = functools.partial(_AuthenticatedGitHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # shutdown() waits for the serving loop's next poll: 0.02 s, not the default 0.5
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/repo.git"
    env = http_auth_env("x-access-token", "ghs_secret123", url.removesuffix("repo.git"))
    _AuthenticatedGitHandler.expected = env["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: ")
    try:
        with pytest.raises(WorkspaceError) as refused:
            workspace.repository(url)
        assert "ghs_secret123" not in str(refused.value)
        repository = workspace.repository(url, git_env=env)
        assert repository.resolve("main") == deployment_repo.git("rev-parse", "main")
        deployment_repo.commit("a new commit to fetch")
        workspace.repository(url, git_env=env)  # incremental fetch, with the header again
    finally:
        server.shutdown()
    mirror_config = (repository.path / "config").read_text()
    assert "ghs_secret123" not in mirror_config
    assert "extraHeader" not in mirror_config
    assert url in mirror_config


def plant(git_dir: Path, marker: Path) -> None:
    """What a render that could write the repository folder would leave: hooks and a config that runs commands."""
    hooks = git_dir / "planted-hooks"
    hooks.mkdir()
    script = f'#!/bin/sh\necho "$0" >> {marker}\n'
    for name in ("reference-transaction", "pre-commit", "post-commit", "pre-push", "post-checkout", "fsmonitor"):
        for folder in (hooks, git_dir / "hooks"):
            (folder / name).write_text(script)
            (folder / name).chmod(0o755)
    with (git_dir / "config").open("a") as config:
        config.write(f"[core]\n\thooksPath = {hooks}\n\tfsmonitor = {hooks / 'fsmonitor'}\n")


def test_hooks_and_commands_planted_in_the_mirror_never_run(
    workspace: Workspace, deployment_repo: GitRepo, tmp_path: Path
) -> None:
    repository = workspace.repository(str(deployment_repo.path))
    marker = tmp_path / "ran"
    plant(repository.path, marker)
    decoy = GitRepo.from_fixture(tmp_path / "decoy")
    decoy.write("config.yaml", "planted: true\n")
    decoy.commit("the attacker's history")
    with (repository.path / "config").open("a") as config:
        config.write(f'[url "{decoy.path}"]\n\tinsteadOf = {deployment_repo.path}\n')
    subprocess.run(["git", "--git-dir", str(repository.path), "fetch", "-q", "origin"], check=True)
    assert marker.is_file(), "the planted hook runs with plain git"
    marker.unlink()

    new = deployment_repo.commit("fetched by the bot")
    fetched = workspace.repository(str(deployment_repo.path))
    assert fetched.resolve("main") == new, "fetched from the real repository, not the decoy"
    with fetched.checkout(new) as folder:
        assert (folder / "config.yaml").is_file()
    assert not marker.exists()
    assert "hooksPath" not in (repository.path / "config").read_text()


def test_files_are_read_through_one_git_process(
    workspace: Workspace, deployment_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A diff reads hundreds of kpops files: one `git cat-file --batch` for all, not a `git show` each."""
    deployment_repo.write("no-final-newline.yaml", "a: 1")
    deployment_repo.write("latin-1.txt", "")
    (deployment_repo.path / "latin-1.txt").write_bytes(b"caf\xe9\n")
    commit = deployment_repo.commit("odd files")
    repository = workspace.repository(str(deployment_repo.path))
    paths = [path for path in repository.files(commit) if path.endswith(".yaml")]
    assert len(paths) > 5

    def shown(path: str) -> str:
        """What the bot read through `git show` (GitPython drops one final newline)."""
        command = ["git", "show", f"{commit}:{path}"]
        output = subprocess.run(command, cwd=deployment_repo.path, capture_output=True, check=True)
        return output.stdout.removesuffix(b"\n").decode("utf-8", errors="surrogateescape")

    before = {path: shown(path) for path in paths}
    started: list[list[str]] = []
    real_popen = git.cmd.safer_popen

    def popen(command: list[str], *args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        started.append(command)
        return real_popen(command, *args, **kwargs)

    monkeypatch.setattr(git.cmd, "safer_popen", popen)
    read = {path: repository.read(commit, path) for path in paths}
    assert read == before, "each file as `git show` gave it (one final newline dropped)"
    assert read["no-final-newline.yaml"] == "a: 1"
    assert repository.read(commit, "latin-1.txt") == shown("latin-1.txt") == "caf\udce9"
    assert repository.read(commit, "no/such/file.yaml") is None
    assert repository.read(commit, "pipelines") is None, "a folder is no file"
    assert repository.read(commit, paths[0]) == before[paths[0]], "the process answers after a missing name"
    assert [command[1:3] for command in started] == [["cat-file", "--batch"]]


def test_many_files_are_read_at_once_as_one_by_one(workspace: Workspace, deployment_repo: GitRepo) -> None:
    """The diff's sources are read in one batch: each file as `read` gives it, missing names and folders included."""
    deployment_repo.write("no-final-newline.yaml", "a: 1")
    deployment_repo.write("with space missing", "b: 2\n\n")
    (deployment_repo.path / "latin-1.txt").write_bytes(b"caf\xe9\n")
    (deployment_repo.path / "linked.yaml").symlink_to("no-final-newline.yaml")
    commit = deployment_repo.commit("odd files")
    repository = workspace.repository(str(deployment_repo.path))
    asked = [
        *(path for path in repository.files(commit) if path.endswith(".yaml")),
        "with space missing",
        "latin-1.txt",
        "no/such file missing",
        "pipelines",
        "linked.yaml",
    ]
    at_once = repository.read_many(commit, asked)
    assert at_once == {path: repository.read(commit, path) for path in asked}
    assert at_once["with space missing"] == "b: 2\n"
    assert at_once["no/such file missing"] is None and at_once["pipelines"] is None
