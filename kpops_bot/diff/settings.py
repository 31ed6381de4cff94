"""Diff settings: what counts as secret, which fields are noise, which risks block a pull request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kpops_bot.diff.compute import DiffOptions
from kpops_bot.diff.manifest_schemas import DEFAULT_KUBERNETES_VERSION, supported
from kpops_bot.diff.model import RiskLevel
from kpops_bot.diff.paths import DEFAULT_IGNORED_FIELDS, FieldFilter
from kpops_bot.masking import DEFAULT_SECRET_KEY_WORDS, Masker
from kpops_bot.model.policy import Limits, PolicyOptions


class KpopsVariables(Protocol):
    """What the diff needs of the engine's settings: the variables kpops is given (their secrets get masked)."""

    @property
    def public_variables(self) -> Sequence[str]: ...

    def given_variables(self) -> Mapping[str, str]: ...


class DiffSettings(BaseSettings):
    """Read from `KPOPS_BOT_*` environment variables (lists as JSON); the CLI sets them from its flags."""

    model_config = SettingsConfigDict(env_prefix="KPOPS_BOT_", extra="ignore")

    secret_keys: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SECRET_KEY_WORDS),
        description="Words that make a key secret, matched case-insensitively ignoring `.`, `_` and `-`.",
    )
    secrets: list[str] = Field(
        default_factory=list, description="Values masked wherever they appear (besides the secrets kpops is given)."
    )
    ignored_fields: list[str] = Field(
        default_factory=lambda: list(DEFAULT_IGNORED_FIELDS),
        description='Field paths left out of diffs (`*` matches anything), e.g. `metadata.labels["helm.sh/chart"]`.',
    )
    blocking_risks: list[RiskLevel] = Field(
        default_factory=lambda: [RiskLevel.DANGER], description="Risk levels that fail the pull request's status."
    )
    max_comment_parts: int = Field(default=5, ge=1, description="Comments a report may use before leaving out.")
    kubernetes_version: str = Field(
        default=DEFAULT_KUBERNETES_VERSION,
        description="The Kubernetes version whose schemas rendered manifests are validated against, e.g. `1.31`.",
    )

    repository_policies: str | None = Field(
        default="policies",
        description="The deployment repository's folder of Rego policies, read at the pull request's base; "
        "empty: none.",
    )
    policy_folders: list[str] = Field(
        default_factory=list, description="Folders of Rego policies on the bot's disk: rules every repository obeys."
    )
    policy_seconds: float = Field(default=20.0, gt=0, description="Wall-clock bound of one policy evaluation.")
    policy_memory_mb: int = Field(default=1024, ge=64, description="Memory bound of one policy evaluation (MiB).")

    @field_validator("kubernetes_version")
    @classmethod
    def _known_version(cls, version: str) -> str:
        if not supported(version):
            raise ValueError(f"no Kubernetes schemas for version {version!r} (kubernetes-validate has 1.25 and later)")
        return version

    def masker(self, engine: KpopsVariables) -> Masker:
        """Masks secret-looking keys, the configured secrets and every variable kpops is given (`pass_env`,
        `variables`) but those `public_variables` names: a value's name does not say whether it is secret (`DSN`,
        `DATABASE_URL`, `SIGNING_KEY`). A secret-looking name stays held even when listed public."""
        masker = Masker.create(self.secret_keys, self.secrets)
        public = set(engine.public_variables)
        held = [
            value
            for name, value in engine.given_variables().items()
            if name not in public or masker.is_secret_key(name)
        ]
        return masker.with_secrets(held)

    def options(self, engine: KpopsVariables) -> DiffOptions:
        return DiffOptions(
            masker=self.masker(engine),
            ignored=FieldFilter(self.ignored_fields),
            blocking_levels=frozenset(self.blocking_risks),
            kubernetes_version=self.kubernetes_version,
            policies=PolicyOptions(
                repository_folder=self.repository_policies or None,
                folders=tuple(self.policy_folders),
                limits=Limits(seconds=self.policy_seconds, memory_bytes=self.policy_memory_mb << 20),
            ),
        )
