"""Real git repositories built from the fixtures, and where the fixtures are: for the tests and the benchmarks."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEPLOYMENT_REPO = FIXTURES / "deployment-repo"
CHARTS = FIXTURES / "charts"
MIRROR_FROM = "bakdata-streams-bootstrap"


class GitRepo:
    """A real git repository on disk that tests commit to."""

    def __init__(self, path: Path, *, initialise: bool = True) -> None:
        self.path = path
        if initialise:
            path.mkdir(parents=True, exist_ok=True)
            self.git("init", "-q", "-b", "main")

    @classmethod
    def from_fixture(cls, path: Path, fixture: Path = DEPLOYMENT_REPO) -> GitRepo:
        """`fixture` committed in a new repository at `path`. A folder of fixtures/ is committed once a process and
        copied (a third of the time of `git init`, `add` and `commit`, which most tests start with); any other
        folder, which may change, is committed anew."""
        if fixture.resolve().is_relative_to(FIXTURES):
            shutil.copytree(_committed(fixture.resolve()), path, dirs_exist_ok=True, copy_function=shutil.copy)
            return cls(path, initialise=False)
        return cls._committed_at(path, fixture)

    @classmethod
    def _committed_at(cls, path: Path, fixture: Path) -> GitRepo:
        repo = cls(path)
        shutil.copytree(fixture, path, dirs_exist_ok=True)
        repo.commit("Deployment repository")
        return repo

    def git(self, *args: str) -> str:
        completed = subprocess.run(
            ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
            cwd=self.path,
            check=True,
            capture_output=True,
            text=True,
        )
        return completed.stdout.strip()

    def write(self, relative: str, content: str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")

    def replace(self, relative: str, old: str, new: str) -> None:
        text = (self.path / relative).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        self.write(relative, text.replace(old, new))

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def bare_clone(self, bare: Path) -> Path:
        """A bare clone of this repository at `bare`: what a forge serves, or a GitOps target."""
        subprocess.run(["git", "clone", "-q", "--bare", str(self.path), str(bare)], check=True)
        return bare

    def with_origin(self, bare: Path) -> Path:
        """A bare clone at `bare` that is this repository's `origin`: a push here reaches what the fake forge serves."""
        self.git("remote", "add", "origin", str(self.bare_clone(bare)))
        return bare


@functools.cache
def _committed(fixture: Path) -> Path:
    """A repository of `fixture` committed once for this process, in a folder of its own removed at its exit."""
    folder = Path(tempfile.mkdtemp(prefix="kpops-bot-fixture-repo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return GitRepo._committed_at(folder / "repo", fixture).path
