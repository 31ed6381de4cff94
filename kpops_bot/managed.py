"""managed mode: kpops itself deploys, resets, cleans or destroys, with the deployment credentials.

kpops runs as a child process in a checkout of the revision it acts on, with an environment built from nothing
but the engine's allowed variables and the configured credentials (kpops reads unprefixed variables into its
config, so the bot's own environment is never passed on). What it prints comes back masked: credential values and
secret-looking fields never reach a comment or a log line.

It runs in the bot's sandbox, with the cluster's network (that is its job): under `namespaces` in bubblewrap, where
it sees the system and the bot's Python environment read-only, its checkout read-only, a temporary HOME/TMPDIR as
the one writable place, credential files (a credential whose value is an existing absolute path, e.g.
KUBECONFIG) read-only, and nothing else of the machine; its own PID namespace, so whatever it starts ends with it.
Under `uid` it runs as an unprivileged uid of its own. In every layer: memory, file size and CPU time limits, a
bound on its processes and the timeout. The process bound is RLIMIT_NPROC where the bot is not root; the kernel
does not apply that limit to root, so a bot running as root puts the run into a pids cgroup of its own instead
(written by hand: a directory, two files and an rmdir, where a library would add a dependency for no more).
"""

from __future__ import annotations

import itertools
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from kpops_bot.masking import Masker
from kpops_bot.model.render import Operation
from kpops_bot.sandbox.confine import chown_tree
from kpops_bot.sandbox.layers import Bwrap, Layer

_OUTPUT_LIMIT = 6_000
_CGROUP_IDS = itertools.count(1)
logger = logging.getLogger(__name__)
MANAGED_UID_OFFSET = 500  # managed kpops runs as sandbox_uid + this, apart from every render's uid


class ManagedSettings(BaseModel):
    credentials: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Variables kpops runs with in managed mode: KPOPS_KAFKA_BROKERS, KUBECONFIG, KPOPS_*__PASSWORD...",
    )
    kpops_command: list[str] = Field(
        default_factory=lambda: [sys.executable, "-c", "import sys; from kpops.cli.main import cli; sys.exit(cli())"],
        description="How kpops is started (default: the kpops installed with the bot).",
    )
    timeout: float = Field(default=1800.0, gt=0, description="Seconds one kpops command may take.")
    memory_mb: int = Field(default=4096, ge=256, description="Address space kpops and helm may use, in MiB.")
    file_size_mb: int = Field(default=256, ge=1, description="Largest file kpops may write, in MiB.")
    processes: int = Field(default=512, ge=16, description="Processes kpops and what it starts may run at once.")

    def secrets(self) -> list[str]:
        return [value.get_secret_value() for value in self.credentials.values() if value.get_secret_value()]


@dataclass(frozen=True)
class KpopsRun:
    operation: Operation
    pipeline_file: str  # relative to the checkout
    config_dir: str = "."
    environment: str | None = None
    steps: Sequence[str] = ()
    execute: bool = True

    def arguments(self) -> list[str]:
        arguments = [self.operation.value, self.pipeline_file, "--config", self.config_dir]
        arguments += ["--operation-mode", "managed"]
        if self.environment:
            arguments += ["--environment", self.environment]
        if self.steps:
            arguments += ["--steps", ",".join(self.steps)]
        arguments.append("--execute" if self.execute else "--dry-run")
        return arguments


@dataclass(frozen=True)
class KpopsOutcome:
    command: str  # as shown to people: `kpops deploy pipelines/word-count/pipeline.yaml ...`
    returncode: int | None  # None: it timed out and was killed
    output: str  # stdout and stderr interleaved, masked, the end kept when long

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class Isolation:
    """How managed kpops is isolated: the bot's sandbox layer, and the uid renders start from."""

    layer: Layer
    sandbox_uid: int = 61000
    hidden: Sequence[Path] = ()


def run_kpops(
    checkout: Path,
    run: KpopsRun,
    settings: ManagedSettings,
    base_env: dict[str, str],
    masker: Masker,
    isolation: Isolation,
) -> KpopsOutcome:
    shown = "kpops " + " ".join(run.arguments())
    masker = masker.with_secrets(settings.secrets())
    # kpops leaves Helm values files in TMPDIR and repository config in HOME: both go with the run.
    with tempfile.TemporaryDirectory(prefix="kpops-managed-") as home:
        env = {**base_env, **{name: value.get_secret_value() for name, value in settings.credentials.items()}}
        env["HOME"] = env["TMPDIR"] = home
        command = [*settings.kpops_command, *run.arguments()]
        uid: int | None = None
        if isolation.layer is Layer.NAMESPACES:
            bwrap = Bwrap(
                read_only=[checkout.resolve(), *_files_named(command, env)],
                writable=[Path(home).resolve()],
                hidden=isolation.hidden,
                network=True,
            )
            command = bwrap.command(command, cwd=checkout.resolve())
        elif isolation.layer is Layer.UID and os.geteuid() == 0:
            uid = isolation.sandbox_uid + MANAGED_UID_OFFSET
            chown_tree(home, uid, uid)
            checkout.chmod(0o755)
        try:
            with _pids_cgroup(settings.processes, runs_as_root=uid is None) as cgroup_procs:
                completed = subprocess.run(
                    command,
                    cwd=checkout,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=settings.timeout,
                    check=False,
                    preexec_fn=_limits(settings, cgroup_procs),
                    user=uid,
                    group=uid,
                    extra_groups=[] if uid is not None else None,
                    start_new_session=True,
                )
        except subprocess.TimeoutExpired as error:
            output = error.stdout.decode(errors="replace") if isinstance(error.stdout, bytes) else ""
            killed = f"\n(killed after {settings.timeout:.0f} s)"
            return KpopsOutcome(shown, None, _tail(masker.mask_text(output)) + killed)
    output = completed.stdout.decode(errors="replace")
    return KpopsOutcome(shown, completed.returncode, _tail(masker.mask_text(output)))


def _files_named(command: Sequence[str], env: dict[str, str]) -> list[Path]:
    """Files kpops needs that live outside the sandbox's view: the command itself, credential files."""
    named = [command[0], *env.values()]
    return sorted({Path(value).resolve() for value in named if value.startswith("/") and Path(value).exists()})


def _limits(settings: ManagedSettings, cgroup_procs: Path | None) -> Callable[[], None]:
    def apply() -> None:
        if cgroup_procs is not None:
            cgroup_procs.write_text(str(os.getpid()))
        else:
            resource.setrlimit(resource.RLIMIT_NPROC, (settings.processes, settings.processes))
        memory = settings.memory_mb * 1024 * 1024
        size = settings.file_size_mb * 1024 * 1024
        cpu = int(settings.timeout) + 1
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


_PIDS_CGROUPS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))  # cgroup v1's pids hierarchy, or v2's root


@contextmanager
def _pids_cgroup(limit: int, *, runs_as_root: bool) -> Iterator[Path | None]:
    """A pids cgroup holding at most `limit` processes, for kpops running as root; its `cgroup.procs` file.

    None where kpops runs as another uid (RLIMIT_NPROC bounds it) or no pids cgroup can be made here.
    """
    if not runs_as_root or os.geteuid() != 0:
        yield None
        return
    folder = _new_pids_cgroup(limit)
    try:
        yield folder / "cgroup.procs" if folder is not None else None
    finally:
        if folder is not None:
            _remove_cgroup(folder)


def _new_pids_cgroup(limit: int) -> Path | None:
    for hierarchy in _PIDS_CGROUPS:
        if not _controls_pids(hierarchy):
            continue
        folder = hierarchy / f"kpops-bot-managed-{os.getpid()}-{next(_CGROUP_IDS)}"
        try:
            folder.mkdir()
            (folder / "pids.max").write_text(str(limit))
        except OSError:
            _remove_cgroup(folder)
            continue
        return folder
    logger.warning("no pids cgroup can be made here: the processes of managed kpops are not bounded")
    return None


def _controls_pids(hierarchy: Path) -> bool:
    """cgroup v1's own pids hierarchy, or a v2 hierarchy whose children get the pids controller."""
    if hierarchy.name == "pids":
        return (hierarchy / "cgroup.procs").exists()
    try:
        return "pids" in (hierarchy / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False


def _remove_cgroup(folder: Path) -> None:
    """Remove the cgroup once its processes are gone (the run's PID namespace or session ended them)."""
    for _ in range(50):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    logger.warning("cgroup %s still has processes; left in place", folder)


def _tail(text: str) -> str:
    text = text.strip()
    if len(text) <= _OUTPUT_LIMIT:
        return text
    return "…" + text[-_OUTPUT_LIMIT:]
