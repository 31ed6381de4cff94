"""managed mode: kpops itself deploys, resets, cleans or destroys, with the deployment credentials.

kpops runs as a child process in a checkout of the revision it acts on, with an environment built from nothing
but the engine's allowed variables and the configured credentials (kpops reads unprefixed variables into its
config, so the bot's own environment is never passed on). What it prints comes back masked: credential values and
secret-looking fields never reach a comment or a log line.

It runs in the bot's sandbox, with the cluster's network (that is its job): under `namespaces` in bubblewrap, where
it sees the system and the bot's Python environment read-only, its checkout read-only, a temporary HOME/TMPDIR as
the one writable place, credential files (a credential whose value is an existing absolute path, e.g.
KUBECONFIG) read-only, and nothing else of the machine; its own PID namespace, so whatever it starts ends with it.
Under `uid` it runs as an unprivileged uid of its own. In every layer: memory, file size and CPU time limits and
the timeout.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from kpops_bot.engine.confine import chown_tree
from kpops_bot.engine.model import Operation
from kpops_bot.engine.sandbox import Bwrap, Layer
from kpops_bot.masking import Masker

_OUTPUT_LIMIT = 6_000
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
            command = bwrap.command(command, env=env, cwd=checkout.resolve())
        elif isolation.layer is Layer.UID and os.geteuid() == 0:
            uid = isolation.sandbox_uid + MANAGED_UID_OFFSET
            chown_tree(home, uid, uid)
            checkout.chmod(0o755)
        try:
            completed = subprocess.run(
                command,
                cwd=checkout,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=settings.timeout,
                check=False,
                preexec_fn=_limits(settings),
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


def _limits(settings: ManagedSettings) -> Callable[[], None]:
    def apply() -> None:
        memory = settings.memory_mb * 1024 * 1024
        size = settings.file_size_mb * 1024 * 1024
        cpu = int(settings.timeout) + 1
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _tail(text: str) -> str:
    text = text.strip()
    if len(text) <= _OUTPUT_LIMIT:
        return text
    return "…" + text[-_OUTPUT_LIMIT:]
