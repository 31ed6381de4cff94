"""The bot's settings: environment variables `KPOPS_BOT_*` over a YAML file (`kpops-bot serve --config FILE`).

Nested keys are joined with `__` in variables: `github.token` is `KPOPS_BOT_GITHUB__TOKEN`. The engine and diff
settings are part of it (same names as for the command line), so one file configures everything.
"""

from __future__ import annotations

import fnmatch
import json
import os
import socket
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from kpops_bot.commands.authorize import CommandPolicy
from kpops_bot.connectors import ConnectorKeys
from kpops_bot.diff.settings import DiffSettings
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.events.model import Forge
from kpops_bot.gitops.layout import JOBS_KEPT_FOR
from kpops_bot.logs import LogFormat
from kpops_bot.managed import ManagedSettings
from kpops_bot.masking import Masker
from kpops_bot.model.kinds import OperationMode as OperationMode  # noqa: PLC0414 -- re-exported: imported from here too
from kpops_bot.names import check_environments
from kpops_bot.setting_keys import unknown_keys, unknown_variables

_CONFIG_FILE: ContextVar[Path | None] = ContextVar("kpops_bot_config_file", default=None)


ENV_PREFIX = "KPOPS_BOT_"
# Variables of the bot's own that are not settings: the replay command's secret, and what the bot sets for the
# processes it starts (chart cache and mirrors, the helm service's socket, grant and key).
_NOT_SETTINGS = frozenset(
    {
        "KPOPS_BOT_REPLAY_SECRET",
        "KPOPS_BOT_CHART_CACHE",
        "KPOPS_BOT_CHART_MIRRORS",
        "KPOPS_BOT_HELM_SOCKET",
        "KPOPS_BOT_HELM_GRANT",
        "KPOPS_BOT_HELM_KEY",
    }
)


class UnknownVariableError(ValueError):
    """A `KPOPS_BOT_*` variable names no setting (the message names it and the nearest valid one)."""


class GitHubSettings(BaseModel):
    api_url: str = Field(default="https://api.github.com", description="GitHub Enterprise: https://HOST/api/v3.")
    token: SecretStr | None = Field(default=None, description="Personal or machine-user token.")
    app_id: int | None = Field(default=None, description="GitHub App id (instead of a token).")
    app_private_key: SecretStr | None = Field(default=None, description="The App's PEM private key.")
    app_private_key_file: Path | None = Field(default=None, description="Or the file that holds it.")
    webhook_secret: SecretStr | None = Field(default=None, description="Secret of the App's or repository's webhook.")
    bot_login: str | None = Field(
        default=None, description="The bot's login; default: the token's user, or `<app-slug>[bot]`."
    )
    seconds_between_writes: float = Field(
        default=1.0, ge=0, description="Pause between writes, as GitHub asks to avoid secondary rate limits."
    )
    timeout: float = Field(default=15.0, gt=0, description="Seconds per API request.")

    def private_key(self) -> str | None:
        if self.app_private_key is not None:
            return self.app_private_key.get_secret_value()
        if self.app_private_key_file is not None:
            return self.app_private_key_file.read_text()
        return None

    @property
    def can_write(self) -> bool:
        return self.token is not None or (self.app_id is not None and self.private_key() is not None)


class GitLabSettings(BaseModel):
    url: str = Field(default="https://gitlab.com", description="The instance, without /api/v4.")
    token: SecretStr | None = Field(default=None, description="Project, group or personal access token (api scope).")
    webhook_secret: SecretStr | None = Field(default=None, description="Secret token of the project's hook.")
    bot_username: str | None = Field(default=None, description="The bot's username; default: the token's user.")
    timeout: float = Field(default=15.0, gt=0, description="Seconds per API request.")

    @property
    def can_write(self) -> bool:
        return self.token is not None


class ApplySettings(BaseModel):
    on_merge: bool = Field(default=True, description="Apply what a merged pull request changed.")
    push_branches: list[str] = Field(
        default_factory=list,
        description="Branch globs applied on every push too (for changes that reach them without a pull request).",
    )


class GitOpsSettings(BaseModel):
    """Where manifest and argo mode commit rendered manifests."""

    repository: str | None = Field(
        default=None, description="Clone URL of the GitOps repository; default: the deployment repository itself."
    )
    branch: str | None = Field(default=None, description="Branch to commit to; default: the branch merged into.")
    path: str = Field(default="rendered", description="Folder of the layout `<path>/<environment>/<pipeline>/`.")
    author_name: str = Field(default="kpops-bot", description="Author and committer name of the bot's commits.")
    author_email: str = Field(default="kpops-bot@localhost", description="Their e-mail address.")
    push_attempts: int = Field(default=5, ge=1, description="Pushes tried when others push at the same time.")
    jobs_kept_hours: float = Field(
        default=JOBS_KEPT_FOR / timedelta(hours=1),
        ge=0,
        description="Hours a one-off Job (reset, clean) stays committed; the next commit to its folder removes it.",
    )

    def jobs_kept_for(self) -> timedelta:
        return timedelta(hours=self.jobs_kept_hours)

    @field_validator("path")
    @classmethod
    def _inside_the_repository(cls, path: str) -> str:
        parts = path.strip("/").split("/")
        if path != "." and (path.startswith("/") or any(part in ("", ".", "..") for part in parts)):
            msg = f"gitops.path {path!r} must be a folder inside the repository (`rendered`, `deploy/rendered`, `.`)"
            raise ValueError(msg)
        return path


class DriftSchedule(BaseModel):
    """A branch whose GitOps target is compared with its render on a schedule (manifest and argo mode)."""

    repository: str = Field(description="`github:owner/name` or `gitlab:group/project`.")
    branch: str = Field(default="main", description="The branch whose tip is rendered and compared.")
    every_minutes: float = Field(default=60.0, gt=0, description="Minutes between two checks.")

    @field_validator("repository")
    @classmethod
    def _qualified(cls, repository: str) -> str:
        forge, colon, full_name = repository.partition(":")
        if not colon or forge not in {f.value for f in Forge} or "/" not in full_name:
            msg = f"drift repository {repository!r} must be `github:owner/name` or `gitlab:group/project`"
            raise ValueError(msg)
        return repository


class BotSettings(EngineSettings, DiffSettings, ConnectorKeys):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(default=Path("kpops-bot-data"), description="Database, clones and render cache.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite in data_dir; postgresql+psycopg://... for replicas."
    )
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the server listens on.")
    concurrency: int = Field(default=2, ge=0, description="Jobs run at once; 0: this replica only receives.")
    intake_processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Processes that take webhooks on the port beside the one that runs jobs; 0: one process does both.",
    )
    access_log: bool = Field(
        default=False, description="A log line per HTTP request (deliveries are in /metrics and /status either way)."
    )
    lease_seconds: float = Field(
        default=120.0, gt=0, description="A job whose worker hangs (its replica still beating) is retried after this."
    )
    replica_id: str | None = Field(
        default=None,
        description="This replica's identity, stable across restarts; default: host name and data_dir.",
    )
    heartbeat_seconds: float = Field(default=2.0, gt=0, description="How often a replica tells it is alive.")
    replica_timeout: float = Field(
        default=10.0, gt=0, description="A replica silent this long is dead: others take over its jobs."
    )
    max_attempts: int = Field(default=5, ge=1, description="Tries of a job before it is given up.")
    transient_max_delay: float = Field(
        default=300.0,
        gt=0,
        description="Longest wait between tries of a job that met a transient fault (store, disk, forge 5xx).",
    )
    worker_stuck_after: float = Field(
        default=1800.0,
        gt=0,
        description="A worker thread without progress this long (a job hung) fails /healthz: the process restarts.",
    )
    retry_delay: float = Field(default=10.0, ge=0, description="First wait before a failed job is tried again.")
    poll_interval: float = Field(default=0.5, gt=0, description="Seconds an idle worker waits between claims.")
    max_body_bytes: int = Field(default=25 * 1024 * 1024, gt=0, description="Larger deliveries get a 413.")
    mirror_days: float = Field(
        default=30.0, gt=0, description="A repository's mirror is removed when no job has used it for this long."
    )
    drift: list[DriftSchedule] = Field(
        default_factory=list, description="Branches whose GitOps target is checked for drift, and how often."
    )
    log_format: LogFormat = Field(
        default=LogFormat.TEXT, description="text, or json: one object a line with the job, repository and PR."
    )
    status_token: SecretStr | None = Field(
        default=None, description="Enables the read-only status page (/status) for whoever presents this token."
    )
    status_url: str | None = Field(
        default=None,
        description="The status page's public address (`https://BOT-HOST/status`): each report links its pull "
        "request's timeline there.",
    )
    insecure_skip_signature: bool = Field(
        default=False, description="Accept unsigned deliveries. Development only: anyone could trigger jobs."
    )
    repositories: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Globs of repositories served: `org/*`, `github:org/repo`, `gitlab:group/*`.",
    )
    operation_mode: OperationMode = Field(
        default=OperationMode.MANIFEST,
        description="managed: kpops deploys to the cluster; manifest, argo: rendered manifests committed for GitOps.",
    )
    environments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Base branch glob → kpops environments previewed for it; none: kpops' default environment.",
    )
    config_dir: str = Field(default=".", description="Folder of config.yaml in the deployment repositories.")
    allow_fork_previews: bool = Field(
        default=False, description="Render pull requests from forks (with no secret variables)."
    )
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    gitlab: GitLabSettings = Field(default_factory=GitLabSettings)
    commands: CommandPolicy = Field(default_factory=CommandPolicy)
    apply: ApplySettings = Field(default_factory=ApplySettings)
    gitops: GitOpsSettings = Field(default_factory=GitOpsSettings)
    managed: ManagedSettings = Field(default_factory=ManagedSettings)

    @classmethod
    def load(cls, config_file: Path | None = None) -> BotSettings:
        """Settings from the environment over `config_file` (YAML, same keys in lower case).

        A `KPOPS_BOT_*` variable that names no setting is refused (raises `ValueError`), unless it is one the bot
        sets for itself or passes on to kpops (`pass_env`): raises `UnknownVariableError`.
        """
        token = _CONFIG_FILE.set(config_file)
        try:
            settings = cls()
        finally:
            _CONFIG_FILE.reset(token)
        names = [
            name
            for name in os.environ
            if name.startswith(ENV_PREFIX) and name not in _NOT_SETTINGS and name not in settings.pass_env
        ]
        problems = unknown_variables(sorted(names), ENV_PREFIX, "__", cls)
        if problems:
            raise UnknownVariableError("; ".join(problems))
        return settings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = _CONFIG_FILE.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @field_validator("environments")
    @classmethod
    def _valid_environments(cls, mapping: dict[str, list[str]]) -> dict[str, list[str]]:
        return check_environments(mapping)

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, data: Any) -> Any:
        """A misspelt key in the file would silently fall back to a default: refuse it instead."""
        if isinstance(data, dict):
            problems = unknown_keys(data, cls)
            if problems:
                raise ValueError("\n".join(problems))
        return data

    def engine(self, *, trusted: bool = True) -> EngineSettings:
        """Engine settings; untrusted (fork) renders get only the variables `public_variables` names (and none
        whose name looks secret even then): every other value is held."""
        settings = EngineSettings(**{name: getattr(self, name) for name in EngineSettings.model_fields})
        if trusted:
            return settings
        masker = Masker.create(self.secret_keys)

        def public(name: str) -> bool:
            return name in settings.public_variables and not masker.is_secret_key(name)

        return settings.model_copy(
            update={
                "pass_env": [name for name in settings.pass_env if public(name)],
                "variables": {name: value for name, value in settings.variables.items() if public(name)},
            }
        )

    def handed_down(self) -> bytes:
        """These settings, secrets included, for a process of the bot's own that reads them from a pipe
        (`received`): never on a command line or in an environment another user could read."""

        def revealed(value: object) -> str:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, Path):
                return str(value)
            raise TypeError(type(value))

        return json.dumps(self.model_dump(mode="python"), default=revealed).encode()

    @classmethod
    def received(cls, data: bytes) -> BotSettings:
        """The settings `handed_down` wrote, exactly: no variable or file is read again."""
        return cls.model_validate(json.loads(data))

    def secrets_masker(self) -> Masker:
        """Masks every secret the bot holds: variables, deployment credentials, forge tokens and webhook secrets."""
        secrets = [*self.managed.secrets()]
        held = (self.github.token, self.github.webhook_secret, self.gitlab.token, self.gitlab.webhook_secret)
        for value in (*held, self.status_token):
            if value is not None and value.get_secret_value():
                secrets.append(value.get_secret_value())
        secrets.append(self.github.private_key() or "")
        return self.masker(self.engine()).with_secrets(secrets)

    def diff(self) -> DiffSettings:
        return DiffSettings(**{name: getattr(self, name) for name in DiffSettings.model_fields})

    @property
    def replica(self) -> str:
        """A restarted process of this replica has the same identity, so it takes its predecessor's jobs at once."""
        return self.replica_id or f"{socket.gethostname()}:{self.data_dir.resolve()}"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'kpops-bot.db'}"

    def webhook_secret(self, forge: Forge) -> str | None:
        secret = self.github.webhook_secret if forge is Forge.GITHUB else self.gitlab.webhook_secret
        return secret.get_secret_value() if secret is not None else None

    def serves(self, forge: Forge, full_name: str) -> bool:
        """The repository matches the allowlist."""
        qualified = f"{forge.value}:{full_name}"
        return any(
            fnmatch.fnmatchcase(qualified if ":" in pattern else full_name, pattern) for pattern in self.repositories
        )

    def startup_problems(self) -> list[str]:
        """What makes serving unsafe or pointless; the server refuses to start while any is left."""
        problems: list[str] = []
        enabled = [forge for forge in Forge if self.webhook_secret(forge)]
        if not enabled and not self.insecure_skip_signature:
            problems.append(
                "no webhook secret: set github.webhook_secret or gitlab.webhook_secret "
                "(KPOPS_BOT_GITHUB__WEBHOOK_SECRET, KPOPS_BOT_GITLAB__WEBHOOK_SECRET); "
                "for local development only, --insecure-skip-signature accepts unsigned deliveries"
            )
        key_file = self.github.app_private_key_file
        if self.github.app_private_key is None and key_file is not None and not os.access(key_file, os.R_OK):
            problems.append(f"github.app_private_key_file {key_file} is not a file this user can read")
        elif self.github.app_id is not None and self.github.private_key() is None:
            problems.append("github.app_id is set but neither github.app_private_key nor its file")
        if self.github.token is None and self.github.app_id is None and self.gitlab.token is None:
            problems.append(
                "no forge credentials: set github.token, github.app_id and its private key, or gitlab.token "
                "(KPOPS_BOT_GITHUB__TOKEN, KPOPS_BOT_GITLAB__TOKEN); without them no delivery can be answered"
            )
        return problems
