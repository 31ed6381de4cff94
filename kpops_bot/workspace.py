"""Git workspace: one cached mirror per repository, any revision materialised into an isolated folder.

The cache is a bare mirror (`git clone --mirror`), updated by incremental fetches under a lock that holds
across threads and processes. A checkout is the revision's tree exported with `git archive` into a fresh
folder: no index, no worktree metadata in the mirror, so concurrent jobs on one repository never share a file.

The mirror is the bot's, never a render's: every git command runs with hooks and configured commands off
(`git_safety.py`), and its `config` is written again before each fetch, so a planted remote URL, proxy or
`insteadOf` never sees the bot's credentials.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from kpops_bot.escape import quoted
from kpops_bot.git_safety import safe_git_env

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
_LOCKS_GUARD = threading.Lock()
_THREAD_LOCKS: dict[Path, threading.Lock] = {}


class WorkspaceError(Exception):
    """A repository or revision that cannot be had; the message is safe to show (no credentials)."""


def redact_url(text: str) -> str:
    """Remove credentials embedded in URLs (`https://token@host/...`)."""
    return _CREDENTIALS.sub("***@", text)


def _normalise_source(source: str) -> str:
    if "://" in source or re.match(r"^[\w.-]+@[\w.-]+:", source):
        return source
    return str(Path(source).expanduser().resolve())


class Workspace:
    """The root of all cached repositories and checkouts."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()  # render processes run elsewhere: paths must not depend on the cwd
        (self.root / "mirrors").mkdir(parents=True, exist_ok=True)
        (self.root / "checkouts").mkdir(parents=True, exist_ok=True)

    def repository(
        self, source: str, *, refresh: bool = True, git_env: dict[str, str] | None = None
    ) -> CachedRepository:
        """The cached mirror of `source` (a path or any URL git clones): cloned if new, else fetched if asked.

        `git_env` is added to git's environment (credentials as `GIT_CONFIG_*` headers), so they stay out of
        the URL, the mirror's config and every message.
        """
        url = _normalise_source(source)
        key = hashlib.sha256(url.encode()).hexdigest()[:24]
        cached = CachedRepository(url, self.root / "mirrors" / f"{key}.git", self.root / "checkouts", git_env)
        with cached.locked():
            os.utime(cached.path.with_suffix(".lock"))  # seen now: `prune_mirrors` keeps it
            if not (cached.path / "HEAD").is_file():
                cached.clone()
                return cached
        if refresh:
            cached.fetch()
        return cached

    def prune_mirrors(self, unused_for: float, now: float | None = None) -> list[Path]:
        """Remove the mirrors of repositories no job has asked for in `unused_for` seconds; the removed paths.

        A mirror is removed under its lock, so a job that wants it meanwhile waits and clones it again.
        """
        deadline = (time.time() if now is None else now) - unused_for
        removed: list[Path] = []
        for lock_file in (self.root / "mirrors").glob("*.lock"):
            mirror = lock_file.with_suffix(".git")
            with _file_lock(mirror, lock_file):  # the lock file stays: a process may be waiting on it
                if lock_file.stat().st_mtime >= deadline or not mirror.exists():
                    continue
                shutil.rmtree(mirror, ignore_errors=True)
                shutil.rmtree(mirror.with_name(mirror.name + ".partial"), ignore_errors=True)
                removed.append(mirror)
        return removed

    def prune_checkouts(self) -> list[Path]:
        """Remove checkouts whose process is gone (killed in the middle of a job); the removed paths.

        A checkout's folder starts with the id of the process that made it, which removes it when its job ends.
        """
        removed: list[Path] = []
        for folder in (self.root / "checkouts").iterdir():
            pid = folder.name.partition("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def _file_lock(mirror: Path, lock_file: Path) -> Iterator[None]:
    """The lock `CachedRepository.locked` takes, across threads and processes."""
    with _LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(mirror, threading.Lock())
    with thread_lock, lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a full SHA-1 or SHA-256 object id, never a name
_LINK_MODE = "120000"  # git's mode of a symbolic link
_EMPTY_TAR = bytes(10240)  # the end-of-archive blocks alone: a tar with no member
_BLOB_KINDS: frozenset[object] = frozenset({"blob", b"blob"})  # GitPython 3.1 types it str, but it hands bytes over


class CachedRepository:
    def __init__(self, url: str, path: Path, checkouts: Path, git_env: dict[str, str] | None = None) -> None:
        self.url = url
        self.path = path
        self._checkouts = checkouts
        self._env = safe_git_env(git_env)
        # commit id → (path → blob id, link path → target): a commit's tree never changes
        self._trees: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        # one `git cat-file --batch` process reads every file and link target of this repository object (a run):
        # a diff reads hundreds of kpops files, a `git show` each cost a process start. Not thread-safe: locked.
        # GitPython ends the process when this object is collected (the end of the job or command).
        self._reader: git.Git | None = None
        self._reader_lock = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of the mirror for writes, across threads and processes."""
        with _file_lock(self.path, self.path.with_suffix(".lock")):
            yield

    @property
    def _git(self) -> git.Git:
        command = git.Git(str(self.path))
        command.update_environment(**self._env)
        return command

    def clone(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            git.Repo.clone_from(self.url, partial, mirror=True, env=self._env)
        except git.GitCommandError as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise WorkspaceError(f"cannot clone {redact_url(self.url)}: {_git_cause(error)}") from error
        partial.replace(self.path)

    def fetch(self) -> None:
        """Bring the mirror up to date; only new objects are transferred."""
        with self.locked():
            try:
                self._pin_config()
                self._git.fetch("--prune", "origin")
            except git.GitCommandError as error:
                raise WorkspaceError(f"cannot fetch {redact_url(self.url)}: {_git_cause(error)}") from error

    def _pin_config(self) -> None:
        """The mirror's config as `git clone --mirror` made it, whatever was written there since."""
        config = self.path / "config"
        object_format = self._config_value(config, "extensions.objectformat")
        pinned = config.with_name("config.pinned")
        pinned.unlink(missing_ok=True)
        entries = [
            ("core.repositoryformatversion", "1" if object_format else "0"),
            ("core.bare", "true"),
            ("remote.origin.url", self.url),
            ("remote.origin.fetch", "+refs/*:refs/*"),
            ("remote.origin.mirror", "true"),
        ]
        if object_format:
            entries.append(("extensions.objectformat", object_format))
        for key, value in entries:
            git.Git().execute(["git", "config", "--file", str(pinned), key, value], env=self._env)
        pinned.replace(config)

    def _config_value(self, config: Path, key: str) -> str | None:
        try:
            value = git.Git().execute(["git", "config", "--file", str(config), "--get", key], env=self._env)
        except git.GitCommandError:
            return None
        return str(value).strip() or None

    def resolve(self, revision: str) -> str:
        """The commit a branch, tag or (abbreviated) sha names; fetches once if it is not known yet."""
        for attempt in range(2):
            try:
                return str(self._git.rev_parse("--verify", "--quiet", f"{revision}^{{commit}}")).strip()
            except git.GitCommandError:
                if attempt == 0:
                    self.fetch()
        msg = f"revision {revision!r} not found in {redact_url(self.url)}"
        raise WorkspaceError(msg)

    def merge_base(self, base: str, head: str) -> str:
        try:
            return str(self._git.merge_base(self.resolve(base), self.resolve(head))).strip()
        except git.GitCommandError as error:
            msg = f"{base} and {head} have no common ancestor in {redact_url(self.url)}"
            raise WorkspaceError(msg) from error

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """`ancestor` is in the history of `descendant` (False when either is unknown)."""
        try:
            self._git.merge_base("--is-ancestor", ancestor, descendant)
        except git.GitCommandError:
            return False
        return True

    def parents(self, commit: str) -> list[str]:
        return str(self._git.rev_list("--parents", "-n", "1", commit)).split()[1:]

    def files(self, commit: str) -> list[str]:
        return list(self.blobs(commit))

    def blobs(self, commit: str) -> dict[str, str]:
        """Path → git blob id of every file: a content hash of each file, for cache keys.

        Listed once per commit id (a dry run asks for each side's files several times), again for a branch name.
        """
        return dict(self._listing(commit)[0])

    def links(self, commit: str) -> dict[str, str]:
        """Path → target of every symbolic link of the commit (a blob of mode 120000 holding the target path)."""
        return dict(self._listing(commit)[1])

    def _listing(self, commit: str) -> tuple[dict[str, str], dict[str, str]]:
        if commit in self._trees:
            return self._trees[commit]
        listing = str(self._git.ls_tree("-r", "-z", commit))
        blobs: dict[str, str] = {}
        link_blobs: dict[str, str] = {}
        for entry in listing.split("\0"):
            meta, _, path = entry.partition("\t")
            if path:
                mode, _kind, blob = meta.split()
                blobs[path] = blob
                if mode == _LINK_MODE:
                    link_blobs[path] = blob
        listed = blobs, self._link_targets(link_blobs)
        if _COMMIT_ID.fullmatch(commit):
            self._trees[commit] = listed
        return listed

    def _link_targets(self, link_blobs: dict[str, str]) -> dict[str, str]:
        """The targets of links (each a blob holding the target path)."""
        targets = {path: self._blob(blob) for path, blob in link_blobs.items()}
        return {path: text.decode("utf-8", errors="replace") for path, text in targets.items() if text is not None}

    def read(self, commit: str, path: str) -> str | None:
        """The file's text at `commit` (as `git show` gave it: one final newline dropped); None if it has none."""
        if "\n" in path:  # `cat-file --batch` reads one name a line
            try:
                return str(self._git.show(f"{commit}:{path}"))
            except git.GitCommandError:
                return None
        data = self._blob(f"{commit}:{path}")
        if data is None:
            return None
        return data.decode("utf-8", errors="surrogateescape").removesuffix("\n")

    def read_many(self, commit: str, paths: Iterable[str]) -> dict[str, str | None]:
        """`read` of many files at once: one `git cat-file --batch` given every name, instead of a round trip
        through the shared reader per file (each a wait for git's answer, hundreds of them in a diff)."""
        wanted = [path for path in dict.fromkeys(paths) if "\n" not in path]
        if not wanted:
            return {}
        names = "".join(f"{commit}:{path}\n" for path in wanted).encode()
        command = ["git", "cat-file", "--batch"]
        answer = subprocess.run(
            command, cwd=self.path, input=names, capture_output=True, env={**os.environ, **self._env}, check=True
        ).stdout
        texts: dict[str, str | None] = {}
        position = 0
        for path in wanted:
            header_end = answer.index(b"\n", position)
            header = answer[position:header_end].split(b" ")
            position = header_end + 1
            if not header[-1].isdigit():  # `<name> missing` (or ambiguous): no content follows
                texts[path] = None
                continue
            size = int(header[2])
            data = answer[position : position + size]
            position += size + 1  # the content's own newline
            text = data.decode("utf-8", errors="surrogateescape").removesuffix("\n")
            texts[path] = text if header[1].decode() in _BLOB_KINDS else None
        return texts

    def _blob(self, name: str) -> bytes | None:
        """The content of the blob `name` (an id or `commit:path`) through the repository's one `cat-file --batch`
        process; None when it is missing or not a file."""
        with self._reader_lock:
            if self._reader is None:
                self._reader = self._git
            try:
                _, kind, _, data = self._reader.get_object_data(name)
            except ValueError:  # git answered `<name> missing`
                return None
        return data if kind in _BLOB_KINDS else None

    def committers(self, base: str, head: str) -> list[tuple[str, str]]:
        """(name, email) of the committer of every commit in `head` that is not in `base`, newest first."""
        listing = str(self._git.log("--format=%cn%x00%ce", f"{base}..{head}"))
        return [(name, email) for name, _, email in (line.partition("\0") for line in listing.splitlines() if line)]

    def changed_paths(self, base: str, head: str) -> list[str]:
        """Paths that differ between two commits; a rename is its old and its new path."""
        listing = str(self._git.diff("--name-only", "--no-renames", "-z", base, head))
        return [path for path in listing.split("\0") if path]

    @contextmanager
    def checkout(
        self, commit: str, left_out: list[str] | None = None, only: Collection[str] | None = None
    ) -> Iterator[Path]:
        """The commit's files in a folder of their own, removed afterwards.

        A link that would point outside the folder (absolute, or up and out) is left out rather than failing the
        checkout: the repository's content is the author's to fix, so each one is described in `left_out`.
        `only`: just these files (git paths, no links among them), for renders known to read no other file: the
        whole tree of a large repository takes most of a one-pipeline render's start to extract and remove
        (`engine/targets.py` says when). The folders of the commit's first two levels are made too, empty unless
        they hold one of the files: where helm looks for a chart `<repository>/<chart>` as a local path first, a
        folder there must exist as it does in the whole tree.
        """
        folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{commit[:12]}-", dir=self._checkouts))
        try:
            if only is None:
                archive = self._git.archive("--format=tar", commit, stdout_as_string=False)
            else:
                archive = self._archive_of(commit, sorted(only))
                for parent in _top_folders(self._listing(commit)[0]):
                    (folder / parent).mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(folder, filter=_contained(left_out if left_out is not None else []))
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _archive_of(self, commit: str, paths: list[str]) -> bytes:
        """`git archive` of these paths of `commit`, each taken as a literal path, not a pattern."""
        if not paths:
            return _EMPTY_TAR
        command = ["git", "--literal-pathspecs", "archive", "--format=tar", commit, "--", *paths]
        try:
            completed = subprocess.run(
                command, cwd=self.path, capture_output=True, env={**os.environ, **self._env}, check=True
            )
        except subprocess.CalledProcessError as error:
            cause = error.stderr.decode(errors="replace").strip()
            raise WorkspaceError(f"cannot read {commit[:12]} from {redact_url(self.url)}: {cause}") from error
        return completed.stdout


def _top_folders(paths: Iterable[str]) -> set[str]:
    """The folders of the first two levels that hold `paths`."""
    found: set[str] = set()
    for path in paths:
        parts = path.split("/", 2)
        if len(parts) > 1:
            found.add(parts[0])
        if len(parts) > 2:
            found.add(f"{parts[0]}/{parts[1]}")
    return found


def _contained(left_out: list[str]) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo | None]:
    """tarfile's `data` filter, except that a link leaving the checkout is skipped and noted, not fatal."""

    def check(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo | None:
        try:
            return tarfile.data_filter(member, destination)
        except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError):
            left_out.append(
                f"{quoted(member.name)} is a link to {quoted(member.linkname)}, outside the repository: the bot "
                "left it out. Make it a relative link to a file inside the repository, or remove it."
            )
            return None

    return check


def _git_cause(error: git.GitCommandError) -> str:
    """git's first `fatal:` line (the cause: `invalid gitfile format: ...`), not the advice it ends with (`and the
    repository exists.`); its last line when none is fatal."""
    stderr = str(error.stderr or "").strip().removeprefix("stderr:").strip().strip("'").strip()
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("fatal:")]
    return redact_url(fatal[0] if fatal else lines[-1] if lines else f"git exited with {error.status}")


def http_auth_env(username: str, password: str, url: str) -> dict[str, str]:
    """git environment that sends HTTP basic credentials with requests to `url` (a prefix, e.g. the forge's
    `https://host/`) and nowhere else, without putting them in a URL."""
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{url}.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {credentials}",
        "GIT_TERMINAL_PROMPT": "0",
    }
