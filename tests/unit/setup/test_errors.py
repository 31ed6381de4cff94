"""Settings and setup errors as an operator meets them: the real `kpops-bot` command, one line that names the file
and line, the variable or the URL, and no traceback. Exit code 2 when the input is wrong (settings, data_dir, a
port in use), 1 when the surroundings fail (a forge or database that does not answer)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization

from kpops_bot.cli import main
from kpops_bot.playground.asgi_server import free_port
from kpops_bot.playground.fake_github import ManifestCode
from kpops_bot.setup.github_app import FlowOptions, ManifestFlow
from testbed.forges import running_github
from testbed.repos import GitRepo
from tests.support.keys import app_key

USAGE, FAILED = 2, 1


def kpops_bot(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    settings_free = {name: value for name, value in os.environ.items() if not name.startswith("KPOPS_BOT_")}
    return subprocess.run(
        [sys.executable, "-m", "kpops_bot", *args],
        capture_output=True,
        text=True,
        env={**settings_free, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def error_line(completed: subprocess.CompletedProcess[str] | Result) -> str:
    """The one `Error:` line; nothing like a traceback anywhere (in this process: the command ended by exiting)."""
    if isinstance(completed, Result):
        assert isinstance(completed.exception, SystemExit), completed.exception
    assert "Traceback" not in completed.stderr + completed.stdout
    errors = [line for line in completed.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, completed.stderr
    return errors[0]


def in_process(*args: str, env: dict[str, str] | None = None) -> Result:
    """The command line in this process (click's runner), for what ends before the bot starts: quicker."""
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def forge_settings(tmp_path: Path) -> Iterator[dict[str, object]]:
    """Credentials a fake GitHub accepts, so serve gets as far as the setting under test."""
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "deployments\n")
    repo.commit("readme")
    with running_github(repo.path / ".git") as (forge, _fake):
        yield {"github": {"api_url": forge.url, "token": "bot-token", "webhook_secret": "s"}, "concurrency": 0}


def _config(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "bot.yaml"
    config.write_text(text)
    return config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "port: 8080\nrepositories: [org/*\n",
            "{file}:3: invalid YAML: while parsing a flow sequence (opened at line 2) expected ',' or ']', "
            "but got '<stream end>'",
        ),
        (
            "port: 8080\nconcurrency: lots\n",
            "{file}:2: concurrency: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "drift:\n  - repository: github:acme/deployments\n    every_minutes: hourly\n",
            "{file}:3: drift.0.every_minutes: Input should be a valid number, unable to parse string as a number",
        ),
        ("github:\n  api_ur: https://ghe\n", "{file}:2: unknown setting github.api_ur; did you mean github.api_url?"),
        ("- port: 8080\n", "{file}: the settings file must be a mapping of keys (`port: 8080`), not a list or a value"),
    ],
    ids=["yaml-syntax", "wrong-type", "wrong-type-deep", "unknown-key", "not-a-mapping"],
)
def test_a_bad_settings_file_is_named_with_its_line(tmp_path: Path, text: str, expected: str) -> None:
    config = _config(tmp_path, text)
    result = in_process("serve", "--config", str(config))
    assert result.exit_code == USAGE
    assert error_line(result) == "Error: invalid settings: " + expected.format(file=config)


def test_a_settings_file_that_is_not_text_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_bytes(b"port: 8080\nhost: \xff\xfe\n")
    result = in_process("serve", "--config", str(config))
    assert result.exit_code == USAGE
    assert error_line(result) == (f"Error: invalid settings: {config}: not UTF-8 text (invalid start byte at byte 17)")


@pytest.mark.bot_process
def test_the_real_command_names_a_yaml_error_in_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "port: 8080\nrepositories: [org/*\n")
    completed = kpops_bot("serve", "--config", str(config))
    assert completed.returncode == USAGE
    assert completed.stderr == (
        f"Error: invalid settings: {config}:3: invalid YAML: while parsing a flow sequence (opened at line 2) "
        "expected ',' or ']', but got '<stream end>'\n"
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("KPOPS_BOT_REPOSITORIES", "org/*", """KPOPS_BOT_REPOSITORIES must be a JSON list, e.g. '["a", "b"]'"""),
        (
            "KPOPS_BOT_APPLY__PUSH_BRANCHES",
            "main",
            """KPOPS_BOT_APPLY__PUSH_BRANCHES must be a JSON list, e.g. '["a", "b"]'""",
        ),
        (
            "KPOPS_BOT_DRIFT",
            "github:acme/x",
            """KPOPS_BOT_DRIFT must be a JSON list of objects, e.g. '[{"key": "value"}]'""",
        ),
        (
            "KPOPS_BOT_ENVIRONMENTS",
            "main=prod",
            """KPOPS_BOT_ENVIRONMENTS must be a JSON object, e.g. '{"key": "value"}'""",
        ),
    ],
)
def test_a_variable_that_is_not_the_json_its_setting_needs_is_named(variable: str, value: str, expected: str) -> None:
    result = in_process("serve", env={variable: value})
    assert result.exit_code == USAGE
    assert error_line(result) == f"Error: invalid settings: {expected} (not JSON: Expecting value)"
    assert value not in result.stderr, "a variable's value may be a secret"


@pytest.mark.bot_process
def test_the_real_command_names_a_variable_that_is_not_json_in_one_line() -> None:
    """Was 59 lines of traceback."""
    completed = kpops_bot("serve", env={"KPOPS_BOT_REPOSITORIES": "acme/*"})
    assert completed.returncode == USAGE
    assert completed.stderr == (
        """Error: invalid settings: KPOPS_BOT_REPOSITORIES must be a JSON list, e.g. '["a", "b"]' """
        "(not JSON: Expecting value)\n"
    )


def test_a_wrong_value_is_blamed_on_the_variable_that_set_it_not_the_file(tmp_path: Path) -> None:
    config = _config(tmp_path, "port: 8080\ngithub:\n  timeout: 5\n")
    result = in_process("serve", "--config", str(config), env={"KPOPS_BOT_GITHUB__TIMEOUT": "soon"})
    assert result.exit_code == USAGE
    assert error_line(result) == (
        "Error: invalid settings: KPOPS_BOT_GITHUB__TIMEOUT: github.timeout: "
        "Input should be a valid number, unable to parse string as a number"
    )


@pytest.mark.bot_process
def test_a_data_dir_that_cannot_be_made_is_named_with_the_reason(
    tmp_path: Path, forge_settings: dict[str, object]
) -> None:
    (tmp_path / "a-file").write_text("")
    data_dir = tmp_path / "a-file" / "data"
    config = _config(tmp_path, yaml.safe_dump({**forge_settings, "data_dir": str(data_dir)}))
    completed = kpops_bot("serve", "--config", str(config))
    assert completed.returncode == USAGE
    assert error_line(completed) == f"Error: data_dir {data_dir} cannot be created: Not a directory"


@pytest.mark.bot_process
def test_a_database_that_does_not_answer_is_named_by_its_url_without_the_password(
    tmp_path: Path, forge_settings: dict[str, object]
) -> None:
    port = free_port()
    url = f"postgresql+psycopg://kpops:hunter2@127.0.0.1:{port}/kpops"
    config = _config(
        tmp_path, yaml.safe_dump({**forge_settings, "data_dir": str(tmp_path / "data"), "database_url": url})
    )
    completed = kpops_bot("serve", "--config", str(config))
    assert completed.returncode == FAILED
    line = error_line(completed)
    assert line.startswith(
        f"Error: the store at postgresql+psycopg://kpops:***@127.0.0.1:{port}/kpops cannot be opened: "
    )
    assert "Connection refused" in line
    assert "hunter2" not in completed.stderr


@pytest.mark.bot_process
def test_gitlab_hook_against_an_unreachable_gitlab_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        "KPOPS_BOT_GITLAB__URL": url,
        "KPOPS_BOT_GITLAB__TOKEN": "glpat-never-shown",
        "KPOPS_BOT_GITLAB__WEBHOOK_SECRET": "hook-secret",
    }
    completed = kpops_bot(
        "setup", "gitlab-hook", "--project", "acme/deployments", "--bot-url", "https://bot.x", env=env
    )
    assert completed.returncode == FAILED
    assert error_line(completed) == f"Error: cannot reach GitLab at {url}: Connection refused"
    assert "glpat-never-shown" not in completed.stderr


@pytest.mark.bot_process
def test_gitlab_hook_against_a_gitlab_that_never_answers_times_out_and_says_so() -> None:
    """A server that takes the connection and never answers: gitlab.timeout bounds the wait (it was unbounded)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = {
            "KPOPS_BOT_GITLAB__URL": url,
            "KPOPS_BOT_GITLAB__TOKEN": "glpat-never-shown",
            "KPOPS_BOT_GITLAB__WEBHOOK_SECRET": "hook-secret",
            "KPOPS_BOT_GITLAB__TIMEOUT": "1",
        }
        args = ["setup", "gitlab-hook", "--project", "acme/deployments", "--bot-url", "https://bot.x"]
        completed = kpops_bot(*args, env=env)
    assert completed.returncode == FAILED
    assert error_line(completed) == f"Error: cannot reach GitLab at {url}: timed out"


@pytest.mark.bot_process
def test_github_app_against_an_unreachable_github_names_the_url(tmp_path: Path) -> None:
    """The admin's browser comes back with the code; GitHub's API does not answer when the bot exchanges it."""
    api_url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "kpops_bot", "setup", "github-app", "--bot-url", "https://bot.x"]
    options = ["--api-url", api_url, "--output-dir", str(tmp_path / "app"), "--timeout", "60"]
    with subprocess.Popen([*command, *options], stderr=subprocess.PIPE, text=True) as setup:
        assert setup.stderr is not None
        opened = re.search(r"Open (\S+) in a browser", setup.stderr.readline())
        assert opened is not None
        page = httpx.get(opened[1], timeout=10).text
        state = re.search(r"state=([^\"&]+)", page)
        assert state is not None
        answer = httpx.get(f"{opened[1]}callback", params={"code": "c0de", "state": state[1]}, timeout=30)
        assert answer.status_code == 502
        rest = setup.stderr.read()
        assert setup.wait(timeout=60) == FAILED
    assert "Traceback" not in rest
    assert rest.splitlines() == [f"Error: cannot reach GitHub at {api_url}: Connection refused"]
    assert not (tmp_path / "app").exists()


@pytest.mark.bot_process
def test_github_app_on_a_port_in_use_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = kpops_bot("setup", "github-app", "--bot-url", "https://bot.x", "--port", str(port))
    assert completed.returncode == USAGE
    assert error_line(completed) == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ["render", "--repo", "{missing}"],
            "Error: cannot clone {missing}: fatal: repository '{missing}' does not exist",
        ),
        (["render", "--repo", "{file}"], "Error: cannot clone {file}: fatal: invalid gitfile format: {file}"),
        (
            ["diff", "--repo", "{repo}", "--base", "nope", "--head", "main"],
            "Error: revision 'nope' not found in {repo}",
        ),
        (["diff", "--repo", "{repo}", "--base", "main", "--head", "main", "--pipeline", "wordcount"], "Did you mean"),
        (
            ["render", "--repo", "{repo}", "--workspace", "{file}/workspace"],
            "Error: Invalid value for --workspace: {file}/workspace cannot be created: Not a directory",
        ),
    ],
    ids=["no-repository", "a-file", "bad-revision", "unknown-pipeline", "workspace-under-a-file"],
)
@pytest.mark.bot_process
def test_render_and_diff_name_what_does_not_exist(
    deployment_repo: GitRepo, tmp_path: Path, command: list[str], expected: str
) -> None:
    places = {"missing": str(tmp_path / "nowhere"), "file": str(deployment_repo.path / "config.yaml")}
    places["repo"] = str(deployment_repo.path)
    args = [part.format(**places) for part in command]
    if "--workspace" not in args:
        args += ["--workspace", str(tmp_path / "workspace")]
    result = in_process(*args, env={"KPOPS_BOT_HELM": "builtin"})
    assert result.exit_code == USAGE
    assert expected.format(**places) in error_line(result)


@pytest.mark.bot_process
def test_a_cache_dir_that_cannot_be_made_is_named_before_anything_starts(
    deployment_repo: GitRepo, tmp_path: Path
) -> None:
    """The real command: no process it started (helm service, renders) writes a traceback after it has ended."""
    cache = deployment_repo.path / "config.yaml" / "cache"
    args = ["diff", "--repo", str(deployment_repo.path), "--base", "main", "--head", "main", "--cache-dir", str(cache)]
    completed = kpops_bot(*args, "--workspace", str(tmp_path / "workspace"), env={"KPOPS_BOT_HELM": "builtin"})
    assert completed.returncode == USAGE
    assert error_line(completed) == f"Error: Invalid value for --cache-dir: {cache} cannot be created: Not a directory"


def test_replay_to_a_bot_that_does_not_answer_says_why(tmp_path: Path) -> None:
    delivery = tmp_path / "ping.json"
    delivery.write_text("{}")
    url = f"http://127.0.0.1:{free_port()}"
    result = in_process("replay", str(delivery), "--forge", "github", "--event", "ping", "--url", url)
    assert result.exit_code == USAGE
    assert error_line(result) == f"Error: cannot reach {url}: Connection refused"


@pytest.mark.parametrize("intake_processes", [0, 1])
@pytest.mark.bot_process
def test_serve_on_a_port_in_use_says_so_before_it_starts(tmp_path: Path, intake_processes: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "KPOPS_BOT_DATA_DIR": str(tmp_path / "data"),
            "KPOPS_BOT_INTAKE_PROCESSES": str(intake_processes),
            # credentials, so that the port is what stops it (none is refused first); the forge is never asked
            "KPOPS_BOT_GITHUB__TOKEN": "a-token-never-sent",
            "KPOPS_BOT_GITHUB__API_URL": f"http://127.0.0.1:{port}/api/v3",
        }
        completed = kpops_bot("serve", "--insecure-skip-signature", "--port", str(port), env=env)
    assert completed.returncode == USAGE
    assert error_line(completed) == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert not (tmp_path / "data").exists(), "nothing was started"


def test_github_app_whose_settings_cannot_be_written_ends_with_why(tmp_path: Path) -> None:
    """The App exists on GitHub then: the flow ends at once (it waited out its timeout) and says what to delete."""
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "deployments\n")
    repo.commit("readme")
    (tmp_path / "a-file").write_text("")
    key = app_key()
    private_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with running_github(repo.path / ".git") as (_, fake):
        fake.expect_manifest(ManifestCode("one-time-code", 90210, "acme-kpops-bot", private_key, "hook-secret"))
        options = FlowOptions("https://bot.example", tmp_path / "a-file" / "app", fake.origin, fake.base_url)
        flow = ManifestFlow(options).start()
        try:
            page = httpx.get(flow.url, timeout=10).text
            state = re.search(r"state=([^\"&]+)", page)
            assert state is not None
            answer = httpx.get(f"{flow.url}callback", params={"code": "one-time-code", "state": state[1]}, timeout=30)
            assert flow.wait(5)
        finally:
            flow.stop()
    assert answer.status_code == 500
    assert flow.settings_file is None
    assert flow.error is not None
    assert flow.error.startswith("the App acme-kpops-bot (id 90210) was registered, but its settings cannot be written")
    assert "Not a directory" in flow.error
    assert private_key not in answer.text
