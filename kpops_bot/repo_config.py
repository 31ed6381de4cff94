"""`.kpops-bot.yaml`: what a deployment repository tells the bot about itself.

Read from the pull request's base branch, never from its head: a pull request must not loosen the rules that
judge it. Secrets and trust (forks, tokens) are the server's alone and cannot be set here.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from kpops_bot.bounded_yaml import UnsafeYamlError, load_bounded
from kpops_bot.connectors import ConnectorPolicy, RepoConnectorKeys
from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.model import RiskLevel
from kpops_bot.names import check_environments
from kpops_bot.settings import BotSettings, OperationMode
from kpops_bot.validation import describe_validation
from kpops_bot.versions.pin import parse_specifier, pin_text

FILE_NAME = ".kpops-bot.yaml"


class InvalidRepoConfigError(ValueError):
    """The file is not valid; the message names the problem for the pull request's thread."""


class RepoConfig(RepoConnectorKeys):
    model_config = ConfigDict(extra="forbid")

    previews: bool = Field(default=True, description="Post diff previews on pull requests.")
    operation_mode: OperationMode | None = Field(default=None, description="Over the server's `operation_mode`.")
    config_dir: str | None = Field(default=None, description="Folder of config.yaml, over the server's.")
    environments: dict[str, list[str]] | None = Field(
        default=None, description="Base branch glob → kpops environments (replaces the server's mapping)."
    )
    ignored_fields: list[str] = Field(default_factory=list, description="Added to the server's ignored fields.")
    blocking_risks: list[RiskLevel] | None = Field(
        default=None, description="Risk levels that fail the pull request, over the server's."
    )
    policies: str | None = Field(
        default=None, description="The folder of Rego policies (read at the base), instead of the server's `policies`."
    )
    kpops_version: str | None = Field(
        default=None, description="PEP 440 specifier of the kpops that renders the repository (read per revision)."
    )

    @field_validator("kpops_version", mode="before")
    @classmethod
    def _valid_kpops_version(cls, value: object) -> str | None:
        if value is None:
            return None
        text = pin_text(value, "kpops_version")
        parse_specifier(text, "kpops_version")
        return text

    @field_validator("environments")
    @classmethod
    def _valid_environments(cls, mapping: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        return None if mapping is None else check_environments(mapping)


def parse_repo_config(text: str | None) -> RepoConfig:
    """The file's content (None: no file) → settings; invalid content raises `InvalidRepoConfigError`."""
    if text is None or not text.strip():
        return RepoConfig()
    try:
        data = load_bounded(text, FILE_NAME, allow_aliases=False)
    except UnsafeYamlError as error:
        raise InvalidRepoConfigError(str(error)) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InvalidRepoConfigError(f"{FILE_NAME} is not valid YAML{where}") from error
    if not isinstance(data, dict):
        raise InvalidRepoConfigError(f"{FILE_NAME} must be a mapping of settings")
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as error:
        raise InvalidRepoConfigError(f"{FILE_NAME}: {describe_validation(error, 'file')}") from error


@dataclass(frozen=True)
class Effective:
    """The server's settings with a repository's own file applied."""

    previews: bool
    operation_mode: OperationMode
    config_dir: str
    environments: list[str | None]
    diff_options: DiffOptions
    connectors: ConnectorPolicy = field(default_factory=ConnectorPolicy)


def effective(settings: BotSettings, repo: RepoConfig, base_branch: str) -> Effective:
    """The settings a pull request into `base_branch` is judged by; its diff masks every secret the bot holds.

    Raises `InvalidRepoConfigError` when the file's connector keys leave Strimzi without a KafkaConnect name."""
    mapping = repo.environments if repo.environments is not None else settings.environments
    environments: list[str | None] = [None]
    for pattern, names in mapping.items():
        if fnmatch.fnmatchcase(base_branch, pattern):
            environments = list(names) or [None]
            break
    update: dict[str, object] = {"ignored_fields": [*settings.ignored_fields, *repo.ignored_fields]}
    if repo.blocking_risks is not None:
        update["blocking_risks"] = repo.blocking_risks
    if repo.policies is not None:
        update["repository_policies"] = repo.policies
    diff = settings.diff().model_copy(update=update)
    operation_mode = repo.operation_mode or settings.operation_mode
    connectors = repo.policy(settings.policy())
    problem = connectors.problem()
    if problem is not None:
        raise InvalidRepoConfigError(f"{FILE_NAME}: {problem}")
    if operation_mode is OperationMode.MANAGED:  # kpops deploys connectors itself
        connectors = ConnectorPolicy()
    options = diff.options(settings.engine())
    return Effective(
        previews=repo.previews,
        operation_mode=operation_mode,
        config_dir=repo.config_dir or settings.config_dir,
        environments=environments,
        diff_options=replace(
            options, masker=settings.secrets_masker(), operation_mode=operation_mode, connectors=connectors
        ),
        connectors=connectors,
    )
