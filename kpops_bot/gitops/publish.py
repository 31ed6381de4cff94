"""Write pipeline folders into the GitOps target, commit once, push; a rejected push is redone on the new tip.

Concurrent applies (two merges at once, two replicas) all land: a push that is not a fast-forward fetches the
target again and redoes the writes on top of it. Per pipeline folder the newest source wins: a folder that
another apply already rendered from a later commit of the source (a descendant of ours) is left as it is, so an
older merge never overwrites a newer one, whichever finishes last. Writing what is already there commits nothing.
Git runs with hooks and configured commands off (`git_safety.py`): nothing planted in the clone runs.

The target's content is not the bot's: every folder is checked before anything is written, on each attempt. A
path that leaves the clone, or a symbolic link on the way to a folder or inside it (`rendered/prod → elsewhere`),
refuses the whole publish with a `PublishError` that says which path, and nothing is written or pushed. Links are
never followed.

One-off Job files older than the target's `jobs_kept_for` leave with the next write to their pipeline's folder; a
file's age is that of the commit that added it, as the target's history tells (`layout.py` says why this is safe).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import git

from kpops_bot.git_safety import safe_git_env
from kpops_bot.gitops.layout import (
    JOBS,
    KUSTOMIZATION,
    PipelineWrite,
    expired_jobs,
    kustomization,
    recorded_source,
)
from kpops_bot.gitops.target import Published, ResourceChanges, Target
from kpops_bot.workspace import redact_url

COMMIT_TRAILER = "Kpops-Bot-Apply"
_REJECTED = ("rejected", "non-fast-forward", "fetch first", "failed to update ref", "cannot lock ref")


class PublishError(Exception):
    """The target could not be cloned or pushed to; the message is safe to show. Raised from git's error, which
    tells whether the remote failed for a while (`kpops_bot.fault_causes`) or refused."""


IsNewer = Callable[[str, str], bool]  # (recorded source, our source) → recorded is strictly newer


def publish(target: Target, writes: Sequence[PipelineWrite], message: str, is_newer: IsNewer) -> Published:
    """Apply `writes` to the target branch and push one commit (or none when nothing changes)."""
    with tempfile.TemporaryDirectory(prefix="kpops-bot-gitops-") as folder:
        return commit_and_push(clone(target, Path(folder)), target, writes, message, is_newer)


def commit_and_push(
    repo: git.Repo, target: Target, writes: Sequence[PipelineWrite], message: str, is_newer: IsNewer
) -> Published:
    """Write, commit once and push from a `clone` of the target; a rejected push is redone on the new tip."""
    folder = Path(str(repo.working_tree_dir))
    for attempt in range(target.attempts):
        _check_inside(folder, writes)
        ages = _JobAges(repo, target.jobs_kept_for, [write.folder for write in writes if not write.removes])
        kept, removed, changes = _apply(folder, writes, is_newer, ages)
        repo.git.add("--all")
        if not repo.git.status("--porcelain"):
            return Published(None, kept, changes=changes)
        repo.git.commit("--quiet", "-m", message)
        try:
            repo.git.push("--quiet", target.url, f"HEAD:refs/heads/{target.branch}")
        except git.GitCommandError as error:
            if attempt == target.attempts - 1 or not _rejected(error):
                msg = f"cannot push to {redact_url(target.url)} {target.branch}: {_cause(error)}"
                raise PublishError(msg) from error
            try:
                _reset_to_remote(repo, target)
            except git.GitCommandError as fetch_error:
                raise PublishError(f"cannot fetch {redact_url(target.url)}: {_cause(fetch_error)}") from fetch_error
            continue
        return Published(repo.head.commit.hexsha, kept, removed, changes)
    raise AssertionError("unreachable")


def clone(target: Target, folder: Path) -> git.Repo:
    """The target branch's tip in `folder` (empty when the branch does not exist yet), ready to commit."""
    env = safe_git_env(target.git_env)
    try:
        repo = git.Repo.init(folder)
        repo.git.update_environment(**env)
        with repo.config_writer() as config:
            config.set_value("user", "name", target.author_name)
            config.set_value("user", "email", target.author_email)
        _reset_to_remote(repo, target)
    except git.GitCommandError as error:
        raise PublishError(f"cannot fetch {redact_url(target.url)}: {_cause(error)}") from error
    return repo


def _reset_to_remote(repo: git.Repo, target: Target) -> None:
    """The working tree becomes the remote branch's tip; a branch that does not exist yet starts empty.

    The target's URL is named on every command, never read from the clone's config.
    """
    remote_ref = f"refs/remotes/origin/{target.branch}"
    found = repo.git.ls_remote("--heads", target.url, target.branch)
    if found:
        repo.git.fetch("--quiet", target.url, f"+refs/heads/{target.branch}:{remote_ref}")
        repo.git.checkout("--quiet", "-B", "publish", remote_ref)
        repo.git.reset("--quiet", "--hard", remote_ref)
    else:
        repo.git.checkout("--quiet", "--orphan", "publish")
        repo.git.rm("-r", "-q", "--cached", "--ignore-unmatch", ".")
    repo.git.clean("-q", "-f", "-d", "-x")


def _check_inside(root: Path, writes: Sequence[PipelineWrite]) -> None:
    for write in writes:
        problem = _escape(root, write.folder)
        if problem is not None:
            msg = f"refused to write `{write.folder}/` in the GitOps target: {problem}. Nothing was committed."
            raise PublishError(msg)


def _escape(root: Path, folder: str) -> str | None:
    """How writing `folder` (relative to the clone) could reach outside it, or None when it cannot."""
    parts = PurePosixPath(folder).parts
    if not parts or folder.startswith("/") or any(part in (".", "..") or "\\" in part for part in parts):
        return "the path leaves the layout"
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return f"`{current.relative_to(root)}` is a symbolic link (the bot never follows one)"
        if not current.exists():
            return None
    for directory, folders, files in os.walk(current):  # never descends into linked folders
        for name in [*folders, *files]:
            path = Path(directory) / name
            if path.is_symlink():
                return f"`{path.relative_to(root)}` is a symbolic link (the bot never follows one)"
    if not current.resolve().is_relative_to(root.resolve()):
        return "the path resolves outside the target"
    return None


class _JobAges:
    """Which one-off Job files of the written folders are past their retention, by the commits that added them.

    One walk of the history for all folders (lazily, at the first question): an apply writes many folders.
    """

    def __init__(self, repo: git.Repo, kept_for: timedelta, folders: Sequence[str]) -> None:
        self._repo = repo
        self._kept_for = kept_for
        self._folders = [f"{folder}/{JOBS}" for folder in folders]
        self._now = datetime.now(UTC)
        self._added: dict[str, dict[str, datetime]] | None = None

    def expired(self, folder: str, written: Sequence[str]) -> list[str]:
        if self._added is None:
            self._added = self._read_history()
        return expired_jobs(self._added.get(f"{folder}/{JOBS}", {}), self._now, self._kept_for, written)

    def _read_history(self) -> dict[str, dict[str, datetime]]:
        """Jobs folder → file name → when the newest commit adding it was made (none on a branch without commits)."""
        if not self._folders or not self._repo.head.is_valid():
            return {}
        log = self._repo.git.log(
            "--no-renames", "--diff-filter=A", "--format=%x00%ct", "--name-only", "--", *self._folders
        )
        added: dict[str, dict[str, datetime]] = {}
        when: datetime | None = None
        for line in log.splitlines():
            if line.startswith("\0"):
                when = datetime.fromtimestamp(int(line[1:]), UTC)
            elif line.strip() and when is not None:
                path = PurePosixPath(line)
                added.setdefault(str(path.parent), {}).setdefault(path.name, when)
        return added


def _apply(
    root: Path, writes: Sequence[PipelineWrite], is_newer: IsNewer, ages: _JobAges
) -> tuple[list[str], list[str], dict[str, ResourceChanges]]:
    """Write every folder; the folders left alone because a newer source was applied there already, the expired
    one-off Job files removed, and what each folder's resources became."""
    kept: list[str] = []
    removed: list[str] = []
    changes: dict[str, ResourceChanges] = {}
    for write in writes:
        folder = root / write.folder
        recorded = recorded_source(_read(folder / KUSTOMIZATION))
        replaces = write.resources is not None or write.removes
        if replaces and recorded is not None and recorded != write.source and is_newer(recorded, write.source):
            kept.append(write.folder)
            continue
        before = _resources(folder)
        if write.removes:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            expired = [
                name for name in ages.expired(write.folder, list(write.jobs)) if (folder / JOBS / name).is_file()
            ]
            removed += [f"{write.folder}/{JOBS}/{name}" for name in expired]
            _write_folder(folder, write, recorded, expired)
        changes[write.folder] = ResourceChanges.between(before, _resources(folder))
    return kept, removed, changes


def _resources(folder: Path) -> dict[str, str]:
    """The folder's resource files and their text (none when it does not exist)."""
    return {path.name: path.read_text() for path in folder.glob("*.yaml") if path.name != KUSTOMIZATION}


def _write_folder(folder: Path, write: PipelineWrite, recorded: str | None, expired: Sequence[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in expired:
        (folder / JOBS / name).unlink(missing_ok=True)
    if write.resources is not None:
        for old in folder.glob("*.yaml"):
            old.unlink()
        for name, text in write.resources.items():
            (folder / name).write_text(text)
    if write.jobs:
        (folder / JOBS).mkdir(exist_ok=True)
        for name, text in write.jobs.items():
            (folder / JOBS / name).write_text(text)
    resources = [path.name for path in folder.glob("*.yaml") if path.name != KUSTOMIZATION]
    resources += [f"{JOBS}/{path.name}" for path in (folder / JOBS).glob("*.yaml")]
    source = write.source if write.resources is not None or recorded is None else recorded
    (folder / KUSTOMIZATION).write_text(kustomization(resources, source))


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def _rejected(error: git.GitCommandError) -> bool:
    text = str(error.stderr).lower()
    return any(marker in text for marker in _REJECTED)


def _cause(error: git.GitCommandError) -> str:
    lines = [line.strip() for line in str(error.stderr or "").splitlines() if line.strip()]
    return redact_url(lines[-1].removeprefix("stderr:").strip(" '") if lines else f"git exited with {error.status}")
