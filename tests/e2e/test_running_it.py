"""docs/getting-started.md, "Running it for a GitHub repository", followed step by step against
`kpops-bot playground --keep --port N`, the commands read from the page itself: a changed or wrong step breaks this.

The page's playground walk-through uses the values `--port 8080` gives (the bot on 127.0.0.1:8080, the GitHub
stand-in on 127.0.0.1:8081) and the token and webhook secret the playground prints; `_doc_values` maps each of them to
what this run's playground printed, and every one must still be on the page. Each block runs in bash as a reader
runs it, and each step's visible outcome is asserted: the branch on the stand-in, the pull request it answers with,
the bot's `202`, then the commit status and the report the page's last commands show, and the status page's job.

What the playground cannot do is left out, each for its reason (`NOT_FOLLOWED`); the page says so too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from kpops_bot.playground.scene import REPORT_MARKER
from kpops_bot.playground.stage import BOT_LOGIN, FULL_NAME
from testbed.playground import KPOPS_BOT, Lines, kept_playground, three_free_ports

pytestmark = [pytest.mark.bot_process]
T = TypeVar("T")
PAGE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
SECTION = "## Running it for a GitHub repository"
WALK_THROUGH = "### Following these steps on the playground"
DOC_PORT = 8080  # the page's `--port`: its bot on 8080, the GitHub stand-in on 8081
BOT_SECONDS = 150  # the bot's preview (a kpops render) on a busy machine
REPLACED = "It replaces steps 1 to 4"  # the page's own word on what the playground stands in for
NOT_FOLLOWED = {  # the section's steps a playground cannot take, and why (the page's walk-through says the same)
    "1. a GitHub App (`kpops-bot setup github-app`)": "registering an App needs github.com and a signed-in browser; "
    "the playground's stand-in knows the bot's token instead (tests/unit/setup cover the registration against "
    "the fake GitHub)",
    "1. a machine user's token": "an account on github.com; the playground prints the token its stand-in knows",
    "2. the webhook in GitHub's settings": "the stand-in sends no webhooks by itself: the walk-through delivers the "
    "pull_request webhook as GitHub would, to the URL and with the secret the playground prints",
    "3./4. `kpops-bot serve --config` behind TLS": "the playground runs its bot with settings of its own on plain "
    "HTTP on 127.0.0.1; no certificate or reverse proxy on a test machine",
    "branch protection": "settings of github.com that the stand-in does not model",
}


@dataclass(frozen=True)
class Printed:
    """What the kept playground says about where everything is."""

    bot: str  # http://127.0.0.1:PORT
    api: str  # the GitHub stand-in's REST API
    token: str
    secret: str
    status_page: str


def _walk_through() -> tuple[str, list[str]]:
    """The page's playground walk-through (its prose and its `sh` blocks, in order)."""
    page = PAGE.read_text(encoding="utf-8")
    assert SECTION in page, f"{PAGE.name} has no section {SECTION!r}"
    section = page.split(SECTION, 1)[1].split("\n## ", 1)[0]
    assert WALK_THROUGH in section, f"{SECTION!r} has no subsection {WALK_THROUGH!r}"
    text = section.split(WALK_THROUGH, 1)[1].split("\n### ", 1)[0]
    return text, re.findall(r"^```sh\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def _printed(said: str) -> Printed:
    def after(pattern: str) -> str:
        found = re.search(pattern, said)
        assert found is not None, f"the playground did not print {pattern!r}:\n{said}"
        return found.group(1)

    webhooks = after(r"the bot's webhooks\s+(\S+)/webhooks/github")
    return Printed(
        bot=webhooks,
        api=after(r"GitHub stand-in \(REST API\) (\S+)"),
        token=after(r"the bot's token (\S+)"),
        secret=after(r"/webhooks/github\s+secret (\S+)"),
        status_page=after(r"the status page\s+(\S+)"),
    )


def _doc_values(printed: Printed, port: int) -> dict[str, str]:
    """The page's literal values → this run's (the page's ports are 8080 and the next, as `--port` promises)."""
    return {
        f"--port {DOC_PORT}": f"--port {port}",
        f"http://127.0.0.1:{DOC_PORT}": printed.bot,
        f"127.0.0.1:{DOC_PORT + 1}": printed.api.removeprefix("http://"),
        "playground-bot-token": printed.token,
        "playground-webhook-secret": printed.secret,
    }


def _substituted(block: str, values: dict[str, str]) -> str:
    for doc_value, value in values.items():
        block = block.replace(doc_value, value)
    return block


def _run(block: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"the page's step failed:\n{block}\n{done.stdout}{done.stderr}"
    return done.stdout


def _wait(seconds: float, what: str, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (found := probe()) is not None:
            return found
        time.sleep(0.5)  # the bot answers through the stand-in's API, which has no event to await from here
    raise AssertionError(f"no {what} within {seconds:.0f} s")


def _reader_env(tmp_path: Path) -> dict[str, str]:
    """A reader's shell: this checkout's `kpops-bot` first on PATH, git with a name and no prompts or user config."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": f"{KPOPS_BOT.parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "GIT_AUTHOR_NAME": "alice",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "alice",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C.UTF-8",
    }


def test_the_github_walk_through_of_getting_started_works_against_the_playground(tmp_path: Path) -> None:
    prose, blocks = _walk_through()
    assert len(blocks) == 5, f"start, clone-change-push, open the pull request, deliver, look: {blocks}"
    start, push, open_pull, deliver, look = blocks
    port = three_free_ports()
    command = shlex.split(start.replace(f"--port {DOC_PORT}", f"--port {port}"))
    assert command[0] == "kpops-bot" and "--keep" in command, start
    # The renders' isolation is not what this test follows (tests/sandbox); a test machine may lack it.
    command = [str(KPOPS_BOT), *command[1:], "--sandbox", "off"]
    with kept_playground(command) as (process, lines):
        printed = _printed("".join(lines.seen))
        values = _doc_values(printed, port)
        for doc_value in values:
            assert doc_value in prose, f"the walk-through no longer mentions {doc_value!r}: update _doc_values"
        assert printed.api == f"http://127.0.0.1:{port + 1}", "the page says the stand-in is on the next port"
        assert REPLACED in prose, f"the page says which steps the playground replaces ({sorted(NOT_FOLLOWED)})"
        env = _reader_env(tmp_path)
        steps = [_substituted(block, values) for block in (push, open_pull, deliver, look)]
        _follow(prose, steps, printed, tmp_path, env)
        _stops_clean(process, lines)


def _follow(prose: str, blocks: list[str], printed: Printed, work: Path, env: dict[str, str]) -> None:
    push, open_pull, deliver, look = blocks
    _run(push, work, env)
    clone = work / "deployments"  # the page's `cd deployments`
    head = _run("git rev-parse HEAD", clone, env).strip()
    branch = _run("git rev-parse --abbrev-ref HEAD", clone, env).strip()
    pushed = _run(f"git ls-remote origin refs/heads/{branch}", clone, env)
    assert pushed.split() == [head, f"refs/heads/{branch}"], "the branch reached the GitHub stand-in"
    assert _run("git diff --stat HEAD~1", clone, env).strip(), "the step changed a file"

    _run(open_pull, clone, env)
    pull = json.loads((clone / "pull.json").read_text(encoding="utf-8"))
    assert (pull["number"], pull["state"], pull["head"]["sha"], pull["base"]["ref"]) == (1, "open", head, "main")

    answered = _run(deliver, clone, env)
    assert answered.startswith("202 "), f"the bot took the delivery: {answered}"

    headers = {"Authorization": f"token {printed.token}"}
    with httpx.Client(base_url=f"{printed.api}/repos/{FULL_NAME}", headers=headers, timeout=10) as api:

        def final_state() -> str | None:
            states = [status["state"] for status in api.get(f"/commits/{head}/statuses").json()]
            return states[0] if states and states[0] != "pending" else None

        def report() -> str | None:
            comments = api.get("/issues/1/comments").json()
            return next((c["body"] for c in comments if c["user"]["login"] == BOT_LOGIN), None)

        state = _wait(BOT_SECONDS, f"final commit status on {head[:12]}", final_state)
        body = _wait(BOT_SECONDS, "report of the bot on #1", report)
    assert state == "success", f"the example change previews cleanly: {state}\n{body}"
    assert body.startswith(REPORT_MARKER) and "clickstream" in body, body

    shown = _run(look, clone, env)
    assert shown.startswith(f"{state}\n{REPORT_MARKER}"), f"the page's last step shows status and report:\n{shown}"

    status_page = re.search(r"\(`(http://127\.0\.0\.1:\d+/status\?token=\S+)`\)", prose)
    assert status_page is not None, "the walk-through names the status page"
    assert status_page.group(1).replace(f"http://127.0.0.1:{DOC_PORT}", printed.bot) == printed.status_page
    with httpx.Client(timeout=10, follow_redirects=True) as browser:
        page = browser.get(printed.status_page)
    assert page.status_code == 200, page.text
    assert f"{FULL_NAME}#1" in page.text and f"<code>{head[:10]}</code>" in page.text, "the page lists the job"


def _stops_clean(process: subprocess.Popen[str], lines: Lines) -> None:
    """Ctrl-C in the first terminal (SIGINT to the process group, as a terminal sends it) stops everything."""
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert "everything stopped" in lines.rest(timeout=10)
