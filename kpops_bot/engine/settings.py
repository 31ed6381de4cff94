"""Engine settings: how kpops runs for the bot, and what of the bot's environment it may see."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kpops_bot.helm.mirrors import ChartMirrors
from kpops_bot.model.kinds import HelmChoice, SandboxChoice
from kpops_bot.versions.index import SupportedReleases

_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class EngineSettings(BaseSettings):
    """Read from `KPOPS_BOT_*` environment variables; the CLI sets them from its flags."""

    model_config = SettingsConfigDict(env_prefix="KPOPS_BOT_", extra="ignore")

    workers: int = Field(default_factory=_default_workers, ge=1, description="Renders run at once.")
    render_timeout: float = Field(default=300.0, gt=0, description="Seconds one pipeline render may take.")
    helm: HelmChoice = Field(
        default=HelmChoice.AUTO,
        description="auto: a helm binary on PATH if there is one, else the built-in helm.",
    )
    chart_mirrors: dict[str, str] = Field(
        default_factory=dict, description="Chart repository name or URL → URL to use instead."
    )
    chart_repositories: list[str] = Field(
        default_factory=list,
        description=(
            "Chart repository URLs a render's `helm repo add` may name besides kpops' defaults and the chart "
            "mirrors' targets (the built-in helm refuses any other)."
        ),
    )
    pass_env: list[str] = Field(
        default_factory=list,
        description="Names of the bot's environment variables a repository's ${VAR} substitutions may read.",
    )
    variables: dict[str, str] = Field(
        default_factory=dict, description="Variables given to kpops with fixed values (win over pass_env)."
    )
    public_variables: list[str] = Field(
        default_factory=list,
        description=(
            "Names among pass_env and variables whose values are public: not masked in reports and logs, and given "
            "to renders of forks. Every other value is held as a secret."
        ),
    )
    work_dir: Path | None = Field(default=None, description="Where render directories are made (default: TMPDIR).")
    sandbox: SandboxChoice = Field(
        default=SandboxChoice.AUTO,
        description="auto: namespaces (bubblewrap) where the kernel allows, else a separate uid; off: none.",
    )
    sandbox_uid: int = Field(
        default=61000,
        ge=1,
        description="First of the unprivileged uids renders run as when the bot runs as root (one per render).",
    )
    render_memory_mb: int = Field(default=2048, ge=256, description="Address space one render may use, in MiB.")
    render_processes: int = Field(default=64, ge=4, description="Processes and threads one render may run.")
    render_file_size_mb: int = Field(default=256, ge=1, description="Largest file one render may write, in MiB.")
    render_cache_mb: int = Field(
        default=2048, ge=1, description="Size bound of the render cache; the least recently used entries go."
    )
    kpops_index_url: str | None = Field(
        default=None,
        description="Package index for kpops releases (default: UV_INDEX_URL, PIP_INDEX_URL, else PyPI).",
    )
    kpops_offline: bool = Field(
        default=False, description="Render only with the bot's kpops and environments already built; no index."
    )
    kpops_environments: Path | None = Field(
        default=None, description="Where an environment per kpops release is kept (default: in the data folder)."
    )
    kpops_oldest_major: int = Field(
        default=8, ge=0, description="Oldest kpops major a repository may pin (older pins are refused)."
    )
    kpops_newest_major: int = Field(
        default=12, ge=0, description="Newest kpops major a repository may pin (newer pins are refused)."
    )
    kpops_idle_minutes: float = Field(
        default=30.0,
        gt=0,
        description="The fork server of another kpops release than the bot's stops when idle this long.",
    )
    kpops_unused_days: float = Field(
        default=30.0, gt=0, description="An environment of a kpops release not used this long is removed."
    )

    @property
    def render_cache_bytes(self) -> int:
        return self.render_cache_mb * 1024 * 1024

    def work_dir_or_none(self) -> str | None:
        if self.work_dir is None:
            return None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return str(self.work_dir)

    def supported_kpops(self) -> SupportedReleases:
        return SupportedReleases(self.kpops_oldest_major, self.kpops_newest_major)

    def mirrors(self) -> ChartMirrors:
        return ChartMirrors(self.chart_mirrors)

    def kpops_environment(self) -> dict[str, str]:
        """The whole environment of a kpops process: fixed entries, allowed variables, nothing else.

        kpops reads unprefixed variables into its config (`NAMESPACE`, `URL`, ...), so the bot's own
        environment is never passed wholesale.
        """
        env = {
            "PATH": os.environ.get("PATH", _SYSTEM_PATH),
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.update(self.given_variables())
        return env

    def given_variables(self) -> dict[str, str]:
        """The values of `pass_env` and `variables` kpops is given (the bot's own fixed entries left out)."""
        env = {name: os.environ[name] for name in self.pass_env if name in os.environ}
        return env | self.variables

    def render_fingerprint(self) -> dict[str, object]:
        """Everything in these settings that can change what a render produces (for the render cache)."""
        env = {name: value for name, value in self.kpops_environment().items() if name != "PATH"}
        return {"env": env, "chart_mirrors": self.chart_mirrors, "helm": self.helm.value}

    def needs_builtin_helm(self, path: str, *, sandboxed: bool = False) -> bool:
        """A sandboxed render has no network: its helm calls go to the helm service, which runs outside."""
        if self.helm is HelmChoice.BUILTIN or sandboxed:
            return True
        if self.helm is HelmChoice.BINARY:
            return False
        return shutil.which("helm", path=path) is None
