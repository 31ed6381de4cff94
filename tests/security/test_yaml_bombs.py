"""YAML from a pull request cannot exhaust the bot's own process: a bomb, a huge file or a deep nest is refused.

The bot parses `.kpops-bot.yaml` (the pin from the head, the settings from the base) and the kpops files it locates
diff lines in outside the render sandbox. A 489-byte alias bomb in `kpops_version` used to run it out of memory
after two minutes; each test here would hang on the old parser and is stopped by its per-test timeout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kpops_bot.bounded_yaml import MAX_BYTES, MAX_DEPTH, UnsafeYamlError, load_bounded
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.repo_config import InvalidRepoConfigError, parse_repo_config
from kpops_bot.sources import SourceFile, config_line
from kpops_bot.versions.pin import InvalidPinError, PinSource, find_pin
from testbed.repos import GitRepo
from tests.unit.test_cli import kpops_bot
from tests.unit.test_cli_diff import diff_args

BOT_CONFIG = ".kpops-bot.yaml"


def alias_bomb(key: str, target_size: int = 489) -> str:
    """Nine levels of nine aliases each (9**9 strings once expanded), padded with a comment to `target_size` bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    lines.append(f"{key}: *{previous}")
    text = "\n".join(lines) + "\n"
    return text + "#" * (target_size - len(text) - 1) + "\n"


@pytest.mark.timeout(30)
def test_an_alias_bomb_in_the_pin_of_the_head_is_refused_naming_the_file() -> None:
    bomb = alias_bomb("kpops_version")
    assert len(bomb.encode()) == 489
    files = {BOT_CONFIG: bomb}
    with pytest.raises(InvalidPinError) as refused:
        find_pin(files, files.get)
    assert str(refused.value) == ".kpops-bot.yaml uses a YAML alias (line 2); aliases are not accepted here"


@pytest.mark.timeout(30)
def test_an_alias_bomb_in_the_repository_settings_is_refused_naming_the_file() -> None:
    with pytest.raises(InvalidRepoConfigError, match=r"^\.kpops-bot\.yaml uses a YAML alias \(line 2\)"):
        parse_repo_config(alias_bomb("ignored_fields"))


@pytest.mark.timeout(30)
def test_a_pin_that_is_not_a_short_scalar_is_refused() -> None:
    for text, problem in [
        ("kpops_version: [8.1.4, 9]\n", "not a YAML list"),
        ("kpops_version: {version: 8}\n", "not a YAML dict"),
        (f"kpops_version: '>={'9' * 100}'\n", "at most 64"),
    ]:
        files = {BOT_CONFIG: text}
        with pytest.raises(InvalidPinError, match=problem):
            find_pin(files, files.get)
        with pytest.raises(InvalidRepoConfigError, match=problem):
            parse_repo_config(text)
    files = {BOT_CONFIG: "kpops_version: 9.0.1\n"}
    assert find_pin(files, files.get).source is PinSource.BOT_CONFIG


@pytest.mark.timeout(30)
def test_a_file_larger_than_the_cap_is_refused_before_parsing() -> None:
    huge = "ignored_fields:\n" + "- x\n" * (MAX_BYTES // 4 + 1)
    with pytest.raises(InvalidRepoConfigError, match=r"^\.kpops-bot\.yaml is \d+ bytes; files larger than"):
        parse_repo_config(huge)
    files = {"requirements.txt": "# padding\n" * (MAX_BYTES // 10 + 1)}
    with pytest.raises(InvalidPinError, match=r"^requirements\.txt is \d+ characters long"):
        find_pin(files, files.get)


@pytest.mark.timeout(30)
def test_a_bomb_in_a_pipeline_file_is_not_expanded_where_the_bot_locates_diff_lines() -> None:
    bomb = alias_bomb("to")
    with pytest.raises(UnsafeYamlError, match=r"^pipelines/a/pipeline\.yaml expands to more than"):
        load_bounded(bomb, "pipelines/a/pipeline.yaml")
    assert SourceFile("pipelines/a/pipeline.yaml", bomb).root is None
    assert config_line(alias_bomb("kafka"), ["kafka", "x"]) is None


@pytest.mark.timeout(30)
def test_a_nest_deeper_than_the_limit_is_refused_and_ordinary_aliases_still_load() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(UnsafeYamlError, match="nests deeper than"):
        load_bounded(deep, "pipeline.yaml")
    with pytest.raises(UnsafeYamlError, match="refers to itself"):
        load_bounded("a: &a [*a]\n", "pipeline.yaml")
    shared = "defaults: &d {replicas: 2}\napp: {<<: *d, name: x}\n"
    assert load_bounded(shared, "pipeline.yaml") == {"defaults": {"replicas": 2}, "app": {"replicas": 2, "name": "x"}}


@pytest.mark.timeout(120)
def test_a_diff_whose_head_pins_through_a_bomb_tells_the_author_which_file(
    deployment_repo: GitRepo, chart_server: ChartServer, tmp_path: Path
) -> None:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.write(BOT_CONFIG, alias_bomb("kpops_version"))
    deployment_repo.commit("Pin kpops through an alias bomb")
    completed = kpops_bot(*diff_args(deployment_repo, chart_server, str(tmp_path / "ws")))
    assert completed.returncode == 1, completed.stderr
    assert ".kpops-bot.yaml uses a YAML alias (line 2); aliases are not accepted here" in completed.stdout
