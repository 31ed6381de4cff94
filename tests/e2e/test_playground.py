"""`kpops-bot playground`, run exactly as `scripts/demo` runs it: the bot's main job end to end on loopback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kpops_bot.playground.scene import COMMAND, PASSWORD_REFERENCE, play
from kpops_bot.playground.stage import CONNECT_CLUSTER, Stage, packaged_examples
from tests.support.kustomize import build_committed_folders

pytestmark = [pytest.mark.kpops, pytest.mark.bot_process]  # the bot in a `kpops-bot playground` process
KPOPS_BOT = Path(sys.executable).parent / "kpops-bot"
DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo"


def _sections(output: str) -> dict[str, str]:
    """Heading (the line after `━━ `) → what was printed below it."""
    sections = {}
    for chunk in output.split("\n━━ ")[1:]:
        heading, _, body = chunk.partition("\n")
        sections[heading] = body
    return sections


def _section(sections: dict[str, str], starts: str) -> tuple[str, str]:
    (found,) = [(heading, body) for heading, body in sections.items() if heading.startswith(starts)]
    return found


def test_scripts_demo_plays_the_playground() -> None:
    assert re.search(r"^\s*exec \.venv/bin/kpops-bot playground \"\$@\"$", DEMO.read_text(), re.MULTILINE)


def test_the_playground_opens_a_pull_request_resets_merges_and_shows_the_bots_commit() -> None:
    # The caller's bot settings never reach the playground: it runs on its own embedded defaults.
    env = {**os.environ, "KPOPS_BOT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    env["KPOPS_BOT_GITHUB__TOKEN"] = "not-the-playground-token"
    completed = subprocess.run(
        [str(KPOPS_BOT), "playground"], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    output = completed.stdout
    sections = _sections(output)

    heading, report = _section(sections, "The bot's comment on #1")
    assert heading.endswith("(commit status kpops-bot: success, Pipelines: 1 changed)")
    assert report.startswith("<!-- kpops-bot:diff part 1/1 -->\n## kpops-bot dry run")
    assert "partitions 3 → 6" in report
    assert '| `config["connection.password"]` | `***` | `*** (changed)` |' in report
    assert "changeme-in-vault" not in report

    marker, _, answer = sections["The bot's answer"].partition("\n")
    assert marker.startswith("<!-- kpops-bot:answer comment:"), "shown as written: the hidden line names its comment"
    assert answer.startswith(f"#### kpops-bot: `{COMMAND}`")
    assert "| ✅ | `word-count` | dev | reset |" in answer
    # kpops' cleanup Job, and the connector's offsets reset through Strimzi
    assert "2 job(s) in `rendered/dev/word-count/jobs/`" in answer
    assert "stops KafkaConnector `word-count-redis-sink-connector`" in answer

    merge_heading, _ = _section(sections, "alice merges #1")
    merge = re.fullmatch(r"alice merges #1 \(merge commit ([0-9a-f]{12})\)", merge_heading)
    assert merge is not None
    heading, applied = _section(sections, "The bot's answer to the merge")
    assert heading.endswith("(status of the merge commit: success, Applied)")
    assert f"#### kpops-bot: applied `{merge[1]}`" in applied

    _, commit = _section(sections, "The bot's commit of rendered manifests on main")
    assert f"    kpops-bot: apply #1 ({merge[1]})" in commit
    assert re.search(rf"Kpops-Bot-Apply: {merge[1]}[0-9a-f]{{28}}", commit)
    assert "rendered/dev/word-count/kustomization.yaml" in commit
    assert "rendered/dev/word-count/kafkatopic-word-count-word-counter-topic.yaml" in commit
    # connectors: strimzi: the sink reaches the cluster too, as a KafkaConnector
    assert "rendered/dev/word-count/kafkaconnector-word-count-redis-sink-connector.yaml" in commit
    assert "KafkaConnector word-count-redis-sink-connector" in report

    # Everything ran on loopback and is gone: the servers answer no more, the folder is removed.
    intro = output.splitlines()[0]
    urls = re.findall(r"http://127\.0\.0\.1:\d+", intro)
    assert len(urls) == 3
    for url in urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)
    (folder,) = re.findall(r"SQLite in (\S+);", intro)
    assert not Path(folder).exists()
    assert output.rstrip().endswith(f"everything stopped, {folder} removed.")


def test_a_machine_without_the_sandbox_is_told_how_to_play_anyway(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    git = shutil.which("git")
    assert git is not None
    (tools / "git").symlink_to(git)  # git, but no bubblewrap
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{KPOPS_BOT.parent}"}
    completed = subprocess.run(
        [str(KPOPS_BOT), "playground", "--sandbox", "namespaces"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 2
    assert "bubblewrap (bwrap) is not installed" in completed.stderr
    assert completed.stderr.rstrip().endswith("(here: kpops-bot playground --sandbox off)")
    assert "Traceback" not in completed.stderr


class _Quiet:
    def step(self, text: str) -> None:
        pass

    def show(self, text: str) -> None:
        pass


def test_every_folder_the_playground_commits_builds_with_real_kustomize() -> None:
    with Stage(packaged_examples()) as stage:
        play(stage, _Quiet(), timeout=600)
        built = build_committed_folders(stage.hosted)
    assert sorted(built) == ["rendered/dev/word-count"]
    [connector] = [d for d in built["rendered/dev/word-count"] if d["kind"] == "KafkaConnector"]
    assert connector["metadata"]["labels"] == {"strimzi.io/cluster": CONNECT_CLUSTER}
    assert connector["spec"]["tasksMax"] == 2
    assert connector["spec"]["config"]["connection.password"] == PASSWORD_REFERENCE
