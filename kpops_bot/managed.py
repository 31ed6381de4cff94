"""managed mode: kpops itself deploys, resets, cleans or destroys, with the deployment credentials.

kpops runs as a child process in a checkout of the revision it acts on, with an environment built from nothing
but the engine's allowed variables and the configured credentials (kpops reads unprefixed variables into its
config, so the bot's own environment is never passed on). What it prints comes back masked: credential values and
secret-looking fields never reach a comment or a log line.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from kpops_bot.engine.model import Operation
from kpops_bot.masking import Masker

_OUTPUT_LIMIT = 6_000


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


def run_kpops(
    checkout: Path, run: KpopsRun, settings: ManagedSettings, base_env: dict[str, str], masker: Masker
) -> KpopsOutcome:
    shown = "kpops " + " ".join(run.arguments())
    masker = masker.with_secrets(settings.secrets())
    # kpops leaves Helm values files in TMPDIR and repository config in HOME: both go with the run.
    with tempfile.TemporaryDirectory(prefix="kpops-managed-") as home:
        env = {**base_env, **{name: value.get_secret_value() for name, value in settings.credentials.items()}}
        env["HOME"] = env["TMPDIR"] = home
        try:
            completed = subprocess.run(
                [*settings.kpops_command, *run.arguments()],
                cwd=checkout,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=settings.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            output = error.stdout.decode(errors="replace") if isinstance(error.stdout, bytes) else ""
            killed = f"\n(killed after {settings.timeout:.0f} s)"
            return KpopsOutcome(shown, None, _tail(masker.mask_text(output)) + killed)
    output = completed.stdout.decode(errors="replace")
    return KpopsOutcome(shown, completed.returncode, _tail(masker.mask_text(output)))


def _tail(text: str) -> str:
    text = text.strip()
    if len(text) <= _OUTPUT_LIMIT:
        return text
    return "…" + text[-_OUTPUT_LIMIT:]
