"""The docs site's configuration reference is generated from the settings and `.kpops-bot.yaml` models: the committed
page is the generated one, and it names every key with its variable and a description, so it cannot go stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from kpops_bot.cli import main
from kpops_bot.config_reference import reference
from kpops_bot.repo_config import RepoConfig
from kpops_bot.settings import BotSettings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration-reference.md"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += _keys(field.annotation, f"{prefix}{name}.")
    return keys


def test_the_committed_page_is_the_generated_one() -> None:
    assert PAGE.read_text(encoding="utf-8") == reference(), "run: kpops-bot config-reference > " + str(PAGE)


def test_kpops_bot_config_reference_prints_it() -> None:
    result = CliRunner().invoke(main, ["config-reference"])
    assert result.exit_code == 0, result.output
    assert result.output == PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize(("model", "part"), [(BotSettings, "## The bot's settings"), (RepoConfig, "## `.kpops-bot")])
def test_every_key_has_a_described_row(model: type[BaseModel], part: str) -> None:
    text = reference()
    start = text.index(part)
    section = text[start : text.find("\n## ", start + 1) if text.find("\n## ", start + 1) > 0 else len(text)]
    rows = {line.split(" | ")[0].removeprefix("| `").removesuffix("`"): line for line in section.splitlines()}
    for key in _keys(model):
        assert key in rows, f"{key} is missing from the reference"
        assert not rows[key].endswith("|  |"), f"{key} has no description: give its Field one"


def test_variables_are_the_ones_the_settings_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variable a row names sets that key (top level and nested through `__`)."""
    text = reference()
    assert "| `gitops.path` | `KPOPS_BOT_GITOPS__PATH` |" in text
    assert "| `concurrency` | `KPOPS_BOT_CONCURRENCY` |" in text
    monkeypatch.setenv("KPOPS_BOT_GITOPS__PATH", "deploy/rendered")
    monkeypatch.setenv("KPOPS_BOT_CONCURRENCY", "7")
    settings = BotSettings.load()
    assert (settings.gitops.path, settings.concurrency) == ("deploy/rendered", 7)


def test_machine_dependent_defaults_are_said_in_words() -> None:
    """Generated on any machine, the page is the same: the CPU count and the interpreter's path are not in it."""
    text = reference()
    assert "| `workers` | `KPOPS_BOT_WORKERS` | integer | the CPUs the bot may use |" in text
    assert "the kpops installed with the bot" in text
    assert "/bin/python" not in text
