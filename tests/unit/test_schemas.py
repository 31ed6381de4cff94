"""JSON schemas of `.kpops-bot.yaml` and the settings file: generated from the models, committed in docs/schema/
unchanged, printed by `kpops-bot schema`, and agreeing with the bot on which files it accepts (check-jsonschema,
the tool a repository's CI would run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpops_bot.cli import main
from kpops_bot.repo_config import InvalidRepoConfigError, parse_repo_config
from kpops_bot.schemas import SchemaKind, schema_text

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "schema"
EXAMPLE = ROOT / "examples" / ".kpops-bot.yaml"


def _check_jsonschema(kind: SchemaKind, *files: Path, options: str = "") -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "check-jsonschema"), "--schemafile", str(COMMITTED / kind.file_name)]
    return subprocess.run([*command, *options.split(), *map(str, files)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("kind", list(SchemaKind))
def test_the_committed_schema_is_the_generated_one(kind: SchemaKind) -> None:
    committed = (COMMITTED / kind.file_name).read_text(encoding="utf-8")
    assert committed == schema_text(kind), f"run: kpops-bot schema {kind} > docs/schema/{kind.file_name}"


@pytest.mark.parametrize("kind", list(SchemaKind))
def test_kpops_bot_schema_prints_it(kind: SchemaKind) -> None:
    result = CliRunner().invoke(main, ["schema", kind.value])
    assert result.exit_code == 0, result.output
    assert result.output == (COMMITTED / kind.file_name).read_text(encoding="utf-8")


@pytest.mark.subprocess
def test_the_example_files_validate_and_name_their_schema() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.startswith(f"# yaml-language-server: $schema={SchemaKind.REPO_CONFIG.url}\n")
    parse_repo_config(text)  # the bot accepts it too
    repo_config = _check_jsonschema(SchemaKind.REPO_CONFIG, EXAMPLE)
    assert repo_config.returncode == 0, repo_config.stdout + repo_config.stderr
    settings_files = sorted((ROOT / "examples").glob("bot-*.yaml"))
    assert settings_files
    settings = _check_jsonschema(SchemaKind.SETTINGS, *settings_files)
    assert settings.returncode == 0, settings.stdout + settings.stderr


CASES = [
    ("previews: false\nblocking_risks: [warning]\n", True),
    ("operation_mode: argo\nenvironments: {main: [prod, dev]}\n", True),
    ("previews: maybe\n", False),
    ("preview: true\n", False),  # misspelt key
    ("operation_mode: yolo\n", False),
    ("blocking_risks: [catastrophe]\n", False),
    ("environments: {main: prod}\n", False),
]


@pytest.fixture(scope="module")
def refused_by_the_tool(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The cases check-jsonschema refuses, from one run over all of them: starting it is most of what a run costs."""
    files = {}
    for index, (text, _) in enumerate(CASES):
        file = tmp_path_factory.mktemp(f"case-{index}") / ".kpops-bot.yaml"
        file.write_text(text, encoding="utf-8")
        files[str(file)] = text
    checked = _check_jsonschema(SchemaKind.REPO_CONFIG, *map(Path, files), options="--output-format json")
    verdict = json.loads(checked.stdout)
    assert verdict["parse_errors"] == [], checked.stdout
    return {files[error["filename"]] for error in verdict["errors"]}


@pytest.mark.parametrize(("text", "accepted"), CASES)
def test_the_schema_accepts_what_the_bot_accepts(refused_by_the_tool: set[str], text: str, accepted: bool) -> None:
    try:
        parse_repo_config(text)
        bot_accepts = True
    except InvalidRepoConfigError:
        bot_accepts = False
    assert bot_accepts is accepted
    assert (text not in refused_by_the_tool) is accepted
