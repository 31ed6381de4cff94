"""JSON schemas of the files people write for the bot, generated from the models that read them, so an editor's
autocompletion and a CI check cannot drift from what the bot accepts: `.kpops-bot.yaml` (`RepoConfig`) and the
bot's settings file (`BotSettings`).

Committed copies live in docs/schema/ (a test keeps them equal to these); editors find them through the line
`# yaml-language-server: $schema=<URL>` at the top of a file.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from kpops_bot.repo_config import RepoConfig
from kpops_bot.settings import BotSettings

PUBLISHED = "https://raw.githubusercontent.com/kpops-bot/kpops-bot/main/docs/schema/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


class SchemaKind(StrEnum):
    REPO_CONFIG = "repo-config"
    SETTINGS = "settings"

    @property
    def file_name(self) -> str:
        return f"kpops-bot-{self.value}.schema.json"

    @property
    def url(self) -> str:
        return PUBLISHED + self.file_name


_MODELS: dict[SchemaKind, tuple[type[BaseModel], str]] = {
    SchemaKind.REPO_CONFIG: (RepoConfig, "`.kpops-bot.yaml`: what a deployment repository tells kpops-bot"),
    SchemaKind.SETTINGS: (BotSettings, "kpops-bot's settings file (`kpops-bot serve --config FILE`)"),
}


def schema(kind: SchemaKind) -> dict[str, Any]:
    model, title = _MODELS[kind]
    generated = model.model_json_schema()
    return {"$schema": DRAFT, "$id": kind.url, **generated, "title": title}


def schema_text(kind: SchemaKind) -> str:
    """The schema as the committed file holds it: stable key order, two-space indents, a final newline."""
    return json.dumps(schema(kind), indent=2, ensure_ascii=False) + "\n"
