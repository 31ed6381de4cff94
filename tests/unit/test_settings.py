from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from kpops_bot.cli import main
from kpops_bot.diff.model import RiskLevel
from kpops_bot.events.model import Forge
from kpops_bot.repo_config import InvalidRepoConfigError, effective, parse_repo_config
from kpops_bot.settings import BotSettings, OperationMode, UnknownVariableError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_environment_variables_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        "concurrency: 3\nrepositories: ['acme/*']\nenvironments: {main: [prod], 'release/*': [staging]}\n"
        "github: {api_url: 'https://ghe.example.com/api/v3', webhook_secret: from-file}\n"
    )
    monkeypatch.setenv("KPOPS_BOT_CONCURRENCY", "5")
    monkeypatch.setenv("KPOPS_BOT_GITHUB__TOKEN", "ghp_from_env")
    settings = BotSettings.load(config)
    assert settings.concurrency == 5
    assert settings.repositories == ["acme/*"]
    assert settings.github.api_url == "https://ghe.example.com/api/v3"
    assert settings.github.token is not None and settings.github.token.get_secret_value() == "ghp_from_env"
    assert "ghp_from_env" not in repr(settings)  # secrets never print
    assert settings.webhook_secret(Forge.GITHUB) == "from-file"
    assert settings.webhook_secret(Forge.GITLAB) is None


def test_a_misspelt_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text("concurency: 3\n")
    with pytest.raises(ValidationError, match="unknown setting"):
        BotSettings.load(config)


def test_untrusted_engine_settings_hold_no_secret_variables() -> None:
    settings = BotSettings(
        variables={"KAFKA_PASSWORD": "hunter22", "REGION": "eu", "DATABASE_URL": "postgresql://db/x"},
        pass_env=["API_TOKEN", "HOME", "DB_PASS"],
        public_variables=["REGION", "HOME", "KAFKA_PASSWORD"],  # a secret-looking name is never public
    )
    untrusted = settings.engine(trusted=False)
    assert untrusted.variables == {"REGION": "eu"}
    assert untrusted.pass_env == ["HOME"]
    assert settings.engine().variables["KAFKA_PASSWORD"] == "hunter22"


def test_repository_file_overrides_what_it_may_and_invalid_files_say_why() -> None:
    settings = BotSettings(environments={"main": ["prod"]})
    repo = parse_repo_config(
        "operation_mode: argo\nenvironments: {'release/*': [staging, prod]}\nblocking_risks: [danger, warning]\n"
    )
    applied = effective(settings, repo, "release/1.2")
    assert applied.operation_mode is OperationMode.ARGO
    assert applied.diff_options.operation_mode is OperationMode.ARGO  # risks say what the merge does in argo mode
    assert effective(settings, parse_repo_config(None), "main").diff_options.operation_mode is settings.operation_mode
    assert applied.environments == ["staging", "prod"]
    assert applied.diff_options.blocking_levels == {RiskLevel.DANGER, RiskLevel.WARNING}
    assert effective(settings, parse_repo_config(None), "main").environments == ["prod"]
    assert effective(settings, parse_repo_config(None), "dev").environments == [None]
    with pytest.raises(InvalidRepoConfigError, match="line 2"):
        parse_repo_config("previews: true\n  config_dir: x: y\n")
    with pytest.raises(InvalidRepoConfigError, match="allow_fork_previews: Extra inputs are not permitted"):
        parse_repo_config("allow_fork_previews: true\n")  # trust is the server's to give


def test_serve_refuses_to_start_without_a_webhook_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "no webhook secret" in result.output
    assert "--insecure-skip-signature" in result.output
    config = tmp_path / "bot.yaml"
    config.write_text("concurrency: many\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "concurrency" in result.output


def test_serve_names_a_missing_app_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(f"github: {{app_id: 7, app_private_key_file: {tmp_path / 'absent.pem'}, webhook_secret: s}}\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert f"github.app_private_key_file {tmp_path / 'absent.pem'} is not a file this user can read" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("example", "forge", "secrets"),
    [
        ("bot-github.yaml", Forge.GITHUB, {"GITHUB__WEBHOOK_SECRET": "s3cret"}),
        ("bot-gitlab.yaml", Forge.GITLAB, {"GITLAB__WEBHOOK_SECRET": "s3cret", "GITLAB__TOKEN": "glpat-x"}),
    ],
)
def test_the_example_settings_files_load_and_serve(
    example: str, forge: Forge, secrets: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/*.yaml are what the README shows: with their secrets set as variables, nothing stops `serve`."""
    for name, value in secrets.items():
        monkeypatch.setenv(f"KPOPS_BOT_{name}", value)
    if forge is Forge.GITHUB:  # the file's key path is the bot host's; here one that exists
        key = tmp_path / "github-app.pem"
        key.write_text("-----BEGIN RSA PRIVATE KEY-----\n")
        monkeypatch.setenv("KPOPS_BOT_GITHUB__APP_PRIVATE_KEY_FILE", str(key))
    settings = BotSettings.load(EXAMPLES / example)
    assert settings.startup_problems() == []
    assert settings.webhook_secret(forge) == "s3cret"
    assert settings.environments["main"] == ["prod"]
    assert settings.operation_mode in (OperationMode.MANIFEST, OperationMode.ARGO)
    assert settings.repositories != ["*"]  # an example names the repositories it serves


@pytest.mark.parametrize("example", ["bot-github.yaml", "bot-gitlab.yaml"])
def test_the_docs_show_the_example_settings_files_as_they_are(example: str) -> None:
    getting_started = (EXAMPLES.parent / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert f"```yaml\n{(EXAMPLES / example).read_text(encoding='utf-8')}```\n" in getting_started


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "github:\n  api_ur: https://ghe.example.com/api/v3\n",
            "unknown setting github.api_ur; did you mean github.api_url?",
        ),
        ("gitops:\n  brnch: deploy\n", "unknown setting gitops.brnch; did you mean gitops.branch?"),
        ("commands:\n  require_aproval: [deploy]\n", "did you mean commands.require_approval?"),
        ("apply:\n  on_merge: true\n  xyz: 1\n", "unknown setting apply.xyz; valid here: on_merge, push_branches"),
        ("concurency: 3\n", "unknown setting concurency; did you mean concurrency?"),
    ],
)
def test_a_misspelt_key_at_any_depth_is_refused_with_its_path_and_the_nearest_valid_one(
    tmp_path: Path, text: str, expected: str
) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(text)
    with pytest.raises(ValidationError) as raised:
        BotSettings.load(config)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "KPOPS_BOT_GITHUB__API_UR",
            "unknown setting github.api_ur; did you mean github.api_url?",
        ),
        ("KPOPS_BOT_CONCURENCY", "unknown setting concurency; did you mean concurrency?"),
    ],
)
def test_a_misspelt_variable_at_any_depth_is_refused(monkeypatch: pytest.MonkeyPatch, name: str, expected: str) -> None:
    monkeypatch.setenv(name, "3")
    with pytest.raises((UnknownVariableError, ValidationError)) as raised:
        BotSettings.load()
    assert expected in str(raised.value)
    if isinstance(raised.value, UnknownVariableError):  # a top-level one pydantic never reads: named by the bot
        assert str(raised.value) == f"{name}: {expected}"


def test_variables_the_bot_passes_on_or_sets_for_itself_are_not_settings_and_not_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KPOPS_BOT_TEST_REGISTRY", "registry.example.com")
    monkeypatch.setenv("KPOPS_BOT_REPLAY_SECRET", "s3cret")
    monkeypatch.setenv("KPOPS_BOT_GITHUB__API_URL", "https://ghe.example.com/api/v3")
    config = tmp_path / "bot.yaml"
    config.write_text("pass_env: [KPOPS_BOT_TEST_REGISTRY]\n")
    assert BotSettings.load(config).github.api_url == "https://ghe.example.com/api/v3"
    monkeypatch.delenv("KPOPS_BOT_REPLAY_SECRET")
    with pytest.raises(UnknownVariableError, match="KPOPS_BOT_TEST_REGISTRY: unknown setting test_registry"):
        BotSettings.load()  # not passed on to kpops: nothing reads it


def test_serve_refuses_a_misspelt_nested_key_at_start(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text("github:\n  api_ur: https://ghe.example.com/api/v3\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code != 0
    assert "github.api_ur" in result.output and "did you mean github.api_url?" in result.output
