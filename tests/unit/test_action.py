"""The GitHub Action (action.yml) run as the runner runs it: its steps in bash, with the runner's variables, against
the fake GitHub hosting a real bare repository.

No runner can run here, so this does the runner's part: it reads action.yml, skips the steps that use other actions
(setup-python, cache: this environment already has Python) and the install step (this environment's Python already
has the bot from this checkout, editable; `test_the_bot_is_installed_from_the_actions_own_checkout` runs that step
into a fresh environment), expands `${{ ... }}` the way the runner
does for the expressions the action uses, and runs each `run:` step with its `env:` and the runner's variables
(`GITHUB_EVENT_PATH`, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, ...).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpops_bot.engine.settings import EngineSettings
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.playground.fake_github import FakeGitHub, StoredPull
from kpops_bot.report.identity import MARKER
from testbed.deliveries import github_comment, github_pull_request, github_push
from testbed.forges import running_github
from testbed.repos import MIRROR_FROM, GitRepo

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
FULL_NAME = "acme/deployments"
EXPECTED_USES = {
    "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
    "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae",
}
INSTALL_STEP = "Install kpops-bot"


@dataclass
class Runner:
    """What a GitHub Actions runner gives one job: a workspace, a temp folder, the event, files for outputs."""

    tmp: Path
    api_url: str
    inputs: dict[str, str]

    def run(
        self, event_name: str, payload: dict[str, Any]
    ) -> tuple[dict[str, str], str, subprocess.CompletedProcess[str]]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        event_path = self.tmp / f"{event_name}.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        output, summary = self.tmp / "output.txt", self.tmp / "summary.md"
        output.write_text("")
        summary.write_text("")
        runner_env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "HOME": str(self.tmp),
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": FULL_NAME,
            "GITHUB_API_URL": self.api_url,
            "GITHUB_WORKSPACE": str(self.tmp / "workspace"),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_RUN_ID": "4242",
            "GITHUB_RUN_ATTEMPT": "1",
            "RUNNER_TEMP": str(self.tmp / "runner-temp"),
        }
        (self.tmp / "workspace").mkdir(exist_ok=True)
        completed: subprocess.CompletedProcess[str] | None = None
        for step in ACTION["runs"]["steps"]:
            if "uses" in step:
                assert step["uses"] in EXPECTED_USES, f"the test does not know what {step['uses']} does"
                continue
            if step.get("name") == INSTALL_STEP:
                continue
            env = {**runner_env, **{name: self.expand(str(value)) for name, value in step.get("env", {}).items()}}
            completed = subprocess.run(
                ["bash", "-e", "-c", self.expand(step["run"])],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert completed.returncode in (0, 1), f"step {step.get('name')} failed: {completed.stderr[-3000:]}"
        assert completed is not None
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        return outputs, summary.read_text(), completed

    def expand(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            context, _, name = expression.partition(".")
            if context == "inputs":
                default = str(ACTION["inputs"][name].get("default", ""))
                return self.inputs.get(name, self.expand(default))
            known = {
                "github.token": "bot-token",
                "github.action_path": str(ROOT),
                "github.api_url": self.api_url,
                "github.repository": FULL_NAME,
                "github.sha": "0" * 40,
                "runner.temp": str(self.tmp / "runner-temp"),
            }
            assert expression in known, f"the test does not know the expression {expression}"
            return known[expression]

        return re.sub(r"\$\{\{(.*?)\}\}", value, text)


@dataclass
class Hosted:
    fake: FakeGitHub
    repo: GitRepo  # a working clone people commit in
    bare: Path  # what the fake GitHub hosts

    def push(self, branch: str) -> str:
        self.repo.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", "--force")
        return self.repo.git("rev-parse", "HEAD")

    def remote_head(self, branch: str) -> str:
        return subprocess.run(
            ["git", "rev-parse", branch], cwd=self.bare, capture_output=True, text=True, check=True
        ).stdout.strip()

    def remote_files(self, branch: str, folder: str) -> list[str]:
        listing = subprocess.run(
            ["git", "ls-tree", "-r", "--name-only", branch, folder],
            cwd=self.bare,
            capture_output=True,
            text=True,
            check=True,
        )
        return listing.stdout.split()


@pytest.fixture
def hosted(deployment_repo: GitRepo, tmp_path: Path) -> Iterator[Hosted]:
    bare = deployment_repo.with_origin(tmp_path / "remote.git")
    with running_github(bare, {"alice": "write", "bob": "read"}) as (_, fake):
        yield Hosted(fake, deployment_repo, bare)


@pytest.fixture
def runner(hosted: Hosted, tmp_path: Path, chart_server: ChartServer, engine_settings: EngineSettings) -> Runner:
    inputs = {
        "bot-login": "kpops-bot",  # the fake's user for the token
        "environments": json.dumps({"main": ["dev"]}),
        "chart-mirrors": json.dumps({MIRROR_FROM: chart_server.url}),
        "push-branches": json.dumps(["main"]),
    }
    assert engine_settings.chart_mirrors == {MIRROR_FROM: chart_server.url}
    return Runner(tmp_path / "runner", hosted.fake.base_url, inputs)


def _open_pull_request(hosted: Hosted) -> tuple[str, dict[str, Any]]:
    hosted.repo.git("checkout", "-q", "-b", "scale")
    hosted.repo.replace("pipelines/word-count/pipeline.yaml", "partitions_count: 3", "partitions_count: 6")
    head = hosted.repo.commit("More partitions for word-count")
    hosted.push("scale")
    hosted.fake.set_pull(StoredPull(FULL_NAME, 7, "alice", "scale", head))
    payload = github_pull_request(
        "opened", number=7, full_name=FULL_NAME, clone_url="https://elsewhere.example/x.git", head_sha=head
    )
    return head, payload


def test_pull_request_gets_the_sticky_report_status_outputs_and_summary(hosted: Hosted, runner: Runner) -> None:
    head, payload = _open_pull_request(hosted)
    outputs, summary, completed = runner.run("pull_request", payload)
    assert completed.returncode == 0, completed.stderr[-3000:]
    (comment,) = [c for c in hosted.fake.pr_comments(FULL_NAME, 7) if c.login == "kpops-bot"]
    assert comment.body.startswith(MARKER)
    assert "word-count" in comment.body and "partitions: 6" in comment.body
    statuses = hosted.fake.commit_statuses(FULL_NAME, head)
    assert [status.state for status in statuses] == ["pending", "success"]
    assert outputs["verdict"] == "success"
    assert outputs["blocking"] == "false"
    report = json.loads(Path(outputs["report-json"]).read_text())
    assert [pipeline["name"] for pipeline in report["pipelines"]] == ["word-count"]
    assert summary.startswith("### kpops-bot: reported 1 pipeline(s)")
    assert MARKER not in summary and "word-count" in summary


def test_issue_comment_runs_the_command_and_answers(hosted: Hosted, runner: Runner) -> None:
    _open_pull_request(hosted)
    comment = hosted.fake.add_comment(FULL_NAME, 7, "bob", "/kpops reset word-count")
    event = github_comment(
        number=7, full_name=FULL_NAME, clone_url="", comment_id=comment.id, author="bob", body=comment.body
    )
    outputs, summary, completed = runner.run("issue_comment", event)
    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = [c.body for c in hosted.fake.pr_comments(FULL_NAME, 7) if c.login == "kpops-bot"]
    assert len(answers) == 1
    assert "needs write permission" in answers[0], "bob may only read"
    assert outputs["verdict"] == "skipped"
    assert "needs write permission" in summary


def test_push_to_a_deploy_branch_commits_the_rendered_manifests(hosted: Hosted, runner: Runner) -> None:
    before = hosted.remote_head("main")
    hosted.repo.replace("pipelines/word-count/pipeline.yaml", "partitions_count: 3", "partitions_count: 6")
    after = hosted.repo.commit("More partitions for word-count")
    hosted.push("main")
    event = github_push(full_name=FULL_NAME, clone_url="", branch="main", before=before, after=after, message="x")
    outputs, _, completed = runner.run("push", event)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert outputs["verdict"] == "success"
    applied = hosted.remote_head("main")
    assert applied != after, "the rendered manifests were committed on top"
    files = hosted.remote_files("main", "rendered/dev/word-count")
    assert "rendered/dev/word-count/kustomization.yaml" in files
    assert any(name.startswith("rendered/dev/word-count/deployment-") for name in files)
    assert [status.state for status in hosted.fake.commit_statuses(FULL_NAME, after)][-1] == "success"


@pytest.mark.bot_process
def test_the_bot_is_installed_from_the_actions_own_checkout(tmp_path: Path) -> None:
    """The install step run as the runner runs it, into a fresh Python (what setup-python gives): the bot it installs
    is the copy at `github.action_path`, whatever the package index holds under the name."""
    (step,) = [step for step in ACTION["runs"]["steps"] if step.get("name") == INSTALL_STEP]
    assert "version" not in ACTION["inputs"], "no input installs the bot by name from an index"
    fresh = tmp_path / "setup-python"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True)
    subprocess.run([str(fresh / "bin" / "python"), "-m", "pip", "install", "--quiet", "hatchling"], check=True)
    runner = Runner(tmp_path / "runner", "http://127.0.0.1:9", {})
    env = {
        "PATH": f"{fresh / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        # Only the bot itself, built with the hatchling above: its dependencies are the index's, and this test is
        # about where the bot comes from. (pip reads PIP_NO_BUILD_ISOLATION inverted: "0" turns isolation off.)
        "PIP_NO_DEPS": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        **{name: runner.expand(str(value)) for name, value in step.get("env", {}).items()},
    }
    completed = subprocess.run(
        ["bash", "-e", "-c", runner.expand(step["run"])], env=env, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    installed = subprocess.run(
        [
            str(fresh / "bin" / "python"),
            "-c",
            "from importlib.metadata import distribution; d = distribution('kpops-bot');"
            "print(d.version); print(d.read_text('direct_url.json'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert installed[0] == tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert json.loads(installed[1])["url"] == ROOT.as_uri(), "installed from the action's checkout"
    assert (fresh / "bin" / "kpops-bot").exists()
