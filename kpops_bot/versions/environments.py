"""One Python environment per kpops release, built on demand and shared by every repository that pins it.

Environments live in one folder (under the data directory), one subfolder per release. A build runs at most
once at a time per release, across the threads of this process (a lock per release) and across processes (a
file lock), and is complete only when its marker file exists; an unfinished or failed build's folder is removed.
uv builds them (a release in seconds); without uv, `venv` and pip. An environment not used for `unused_for` is
removed by `prune`.

The installer runs outside the render sandbox on a pull request's behalf (the pin is the pull request's), so it
obeys only the bot: it runs in a folder of its own (never a checkout, whose `pyproject.toml` or `uv.toml` could
name an index), with `--no-config`, an environment of allowed variables only (no forge token, no credential, no
`KPOPS_BOT_*`; HOME is a bot-owned folder), the one configured index, and binary wheels only: building a source
package would run its code here. Only releases of the supported majors are built.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from kpops_bot import metrics
from kpops_bot.metrics import BuildOutcome
from kpops_bot.model.kinds import SandboxChoice
from kpops_bot.sandbox.layers import Bwrap, Layer, SandboxUnavailableError, choose
from kpops_bot.sandbox.permissions import open_to_renders
from kpops_bot.versions.index import Release, SupportedReleases, WaitListener, default_index_url

MARKER = "kpops-bot-environment.json"
_LAST_USED = "last-used"
_BUILD_TIMEOUT = 900
# What a release's own requirements no longer exclude but that breaks it: kpops 8 pins typer 0.12, whose CLI
# fails to start with click 8.2 and later ("Secondary flag is not valid for non-boolean flag").
_CONSTRAINTS = {8: ["click<8.2"]}
# What the installer may see of the bot's environment: how to reach the index (CA bundles, proxies), nothing else.
_INSTALLER_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "UV_NATIVE_TLS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
_IMPORT_CHECK = "import kpops, pydantic, yaml; assert pydantic.VERSION.startswith('2')"
_CHECK_UID_OFFSET = 499  # the import check's uid under `uid`: sandbox_uid + this, apart from renders and managed
_NO_WHEEL = re.compile(r"(?P<package>[A-Za-z0-9._-]+)(?:==\S+)? has no usable wheels")


class EnvironmentBuildError(RuntimeError):
    """The environment could not be built; the message ends with the installer's last error line."""


@dataclass(frozen=True)
class KpopsEnvironment:
    version: Version
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def paths(self) -> list[Path]:
        """What a sandbox binds read-only for it: the environment and the interpreter it was made from."""
        return [self.root, self.python.resolve().parent.parent]


class EnvironmentStore:
    """The environments of one data directory."""

    def __init__(
        self,
        folder: Path,
        *,
        index_url: str | None = None,
        pythons: list[Path] | None = None,
        use_uv: bool = True,
        supported: SupportedReleases | None = None,
        sandbox: SandboxChoice = SandboxChoice.AUTO,
        sandbox_uid: int = 61000,
    ) -> None:
        self._folder = folder
        self._sandbox = sandbox
        self._sandbox_uid = sandbox_uid
        self._use_uv = use_uv
        self._index_url = index_url or default_index_url()
        self._supported = supported or SupportedReleases()
        self._pythons = pythons if pythons is not None else [Path(sys.executable)]
        self._locks: dict[Version, threading.Lock] = {}
        self._guard = threading.Lock()
        self.builds = 0  # environments this store built (what waiting jobs shared is visible here)

    @property
    def folder(self) -> Path:
        return self._folder

    def built(self) -> list[Release]:
        """The releases whose environment is complete (the offline mode's candidates)."""
        releases = []
        for marker in sorted(self._folder.glob(f"*/{MARKER}")):
            data = json.loads(marker.read_text())
            releases.append(Release(Version(data["version"]), SpecifierSet(data["requires_python"])))
        return releases

    def ready(self, version: Version) -> bool:
        return (self._root(version) / MARKER).is_file()

    def get(
        self, version: Version, requires_python: SpecifierSet, on_wait: WaitListener | None = None
    ) -> KpopsEnvironment:
        """The environment of `version`, built first if needed; `on_wait` hears that a job waits for it."""
        root = self._root(version)
        if not self.ready(version) and on_wait is not None:
            on_wait(version)
        with self._lock_for(version), self._file_lock(version):
            if not self.ready(version):
                self._build(version, requires_python, root)
        (root / _LAST_USED).touch()
        return KpopsEnvironment(version, root)

    def prune(self, unused_for: float, now: float | None = None) -> list[Version]:
        """Remove the environments not used for `unused_for` seconds; returns their versions."""
        now = time.time() if now is None else now
        removed = []
        for release in self.built():
            root = self._root(release.version)
            with self._lock_for(release.version), self._file_lock(release.version):
                used = root / _LAST_USED
                last = used.stat().st_mtime if used.exists() else 0.0
                if now - last >= unused_for:
                    shutil.rmtree(root)
                    removed.append(release.version)
        return removed

    def _root(self, version: Version) -> Path:
        return self._folder / f"kpops-{version}"

    def _lock_for(self, version: Version) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(version, threading.Lock())

    @contextmanager
    def _file_lock(self, version: Version) -> Iterator[None]:
        self._folder.mkdir(parents=True, exist_ok=True)
        self._folder.chmod(0o711)  # renders of other uids reach an environment by its name and list nothing
        with (self._folder / f".kpops-{version}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build(self, version: Version, requires_python: SpecifierSet, root: Path) -> None:
        started = time.monotonic()
        try:
            self._install(version, requires_python, root)
        except EnvironmentBuildError:
            _count_build(version, BuildOutcome.FAILED, time.monotonic() - started)
            raise
        _count_build(version, BuildOutcome.BUILT, time.monotonic() - started)
        self.builds += 1

    def _install(self, version: Version, requires_python: SpecifierSet, root: Path) -> None:
        if not self._supported.contains(version):
            raise EnvironmentBuildError(self._supported.refusal(f"kpops {version}"))
        if root.exists():
            shutil.rmtree(root)  # an unfinished build
        python = self._python_for(version, requires_python)
        installer = _uv() if self._use_uv else None
        home = self._installer_home()
        try:
            with tempfile.TemporaryDirectory(prefix="build-", dir=home) as cwd:
                env = installer_environment(home, self._index_url)
                for command in _commands(installer, python, root, version):
                    _run(command, version, Path(cwd), env)
                open_to_renders(root)  # renders of other uids (the `uid` sandbox) run it
                self._check_imports(KpopsEnvironment(version, root), Path(cwd), env)
            marker = {"version": str(version), "requires_python": str(requires_python), "python": str(python)}
            (root / MARKER).write_text(json.dumps(marker))
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)  # a failed build leaves nothing behind
            raise

    def _check_imports(self, environment: KpopsEnvironment, cwd: Path, env: dict[str, str]) -> None:
        """The render child's own imports (pydantic 2, PyYAML) must exist in the environment. Importing runs the
        installed wheels' code, so the check runs confined as a render is (no network, nothing of the bot's)."""
        check = [str(environment.python), "-I", "-c", _IMPORT_CHECK]
        try:
            layer = choose(self._sandbox, self._sandbox_uid).layer
        except SandboxUnavailableError as error:
            msg = f"kpops {environment.version}: its import check needs the sandbox, which does not work here: {error}"
            raise EnvironmentBuildError(msg) from error
        if layer is Layer.NAMESPACES:
            bwrap = Bwrap(read_only=environment.paths())
            _run(bwrap.command(check, cwd=environment.root), environment.version, cwd, env)
        elif layer is Layer.UID and os.geteuid() == 0:
            uid = self._sandbox_uid + _CHECK_UID_OFFSET
            _run(check, environment.version, environment.root, env, uid=uid)
        else:
            _run(check, environment.version, cwd, env)

    def _installer_home(self) -> Path:
        """The installer's HOME and working folders: the bot's own, never a checkout."""
        home = self._folder / ".installer"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return home

    def _python_for(self, version: Version, requires_python: SpecifierSet) -> Path:
        for python in self._pythons:
            if requires_python.contains(_python_version(python)):
                return python
        names = ", ".join(map(str, self._pythons))
        msg = f"kpops {version} needs Python {requires_python}; none of the configured interpreters fits ({names})"
        raise EnvironmentBuildError(msg)


def _count_build(version: Version, outcome: BuildOutcome, seconds: float) -> None:
    metrics.environment_builds.labels(str(version), outcome.value).inc()
    metrics.environment_build_duration.labels(outcome.value).observe(seconds)


def _uv() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    return find_uv_bin()


def _commands(uv: str | None, python: Path, root: Path, version: Version) -> list[list[str]]:
    """The build's commands: configuration files ignored, wheels only (no package's code runs); the index comes
    through the environment (`installer_environment`), as a URL with credentials must not be on a command line."""
    requirement = [f"kpops=={version}", *_CONSTRAINTS.get(version.major, [])]
    target = ["--python", str(root / "bin" / "python")]
    if uv is not None:
        return [
            [uv, "venv", "--quiet", "--no-config", "--no-python-downloads", "--python", str(python), str(root)],
            [uv, "pip", "install", "--quiet", "--no-config", "--only-binary", ":all:", *target, *requirement],
        ]
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-input"]
    pip += ["--disable-pip-version-check", "--only-binary", ":all:"]
    return [[str(python), "-I", "-m", "venv", str(root)], [*pip, *requirement]]


def installer_environment(home: Path, index_url: str) -> dict[str, str]:
    """The whole environment of the installer and the import check: allowed variables and the one index only
    (pip reads no configuration file with PIP_CONFIG_FILE set to the null device)."""
    env = {name: os.environ[name] for name in _INSTALLER_VARIABLES if name in os.environ}
    env.update(
        PATH=os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        HOME=str(home),
        LANG="C.UTF-8",
        UV_NO_PROGRESS="1",
        UV_CACHE_DIR=str(_uv_cache()),
        PIP_CONFIG_FILE=os.devnull,
        UV_INDEX_URL=index_url,
        PIP_INDEX_URL=index_url,
    )
    return env


def _uv_cache() -> Path:
    """The bot's own uv cache (as uv would pick it for the bot), so a rebuild does not download again."""
    if configured := os.environ.get("UV_CACHE_DIR"):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uv"


def _run(command: list[str], version: Version, cwd: Path, env: dict[str, str], uid: int | None = None) -> None:
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT,
            check=False,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EnvironmentBuildError(f"building the environment of kpops {version} failed: {error}") from error
    if completed.returncode != 0:
        raise EnvironmentBuildError(_failure(version, completed.stderr))


def _failure(version: Version, stderr: str) -> str:
    match = _NO_WHEEL.search(stderr)
    if match is not None or "building from source is disabled" in stderr:
        package = match["package"] if match is not None else "kpops"
        of = "" if package == "kpops" else f" of {package}"
        return f"kpops {version} needs a source build{of}; not supported (the bot installs binary wheels only)"
    lines = [line for line in stderr.strip().splitlines() if line.strip()] or ["no output"]
    return f"building the environment of kpops {version} failed: {lines[-1].strip()}"


def _python_version(python: Path) -> Version:
    if python.resolve() == Path(sys.executable).resolve():
        return Version(".".join(map(str, sys.version_info[:3])))
    completed = subprocess.run(
        [str(python), "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return Version(completed.stdout.strip())
