from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kpops_bot.cli import main
from kpops_bot.playground.asgi_server import ThreadedServer
from kpops_bot.server.app import create_app
from kpops_bot.settings import BotSettings, GitHubSettings, GitLabSettings
from kpops_bot.store import Store
from testbed.deliveries import WEBHOOKS


def test_replay_sends_stored_deliveries_signed_for_each_forge(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    settings = BotSettings(
        github=GitHubSettings(webhook_secret="s3cret"),  # type: ignore[arg-type]
        gitlab=GitLabSettings(webhook_secret="s3cret"),  # type: ignore[arg-type]
    )
    runner = CliRunner()
    with ThreadedServer(create_app(settings, store)) as server:
        github = ["replay", str(WEBHOOKS / "github-pull_request.json"), "--forge", "github", "--url", server.url]
        sent = runner.invoke(main, [*github, "--event", "pull_request", "--secret", "s3cret", "--delivery", "r-1"])
        assert (sent.exit_code, sent.output) == (0, '202 {"status":"queued","job":1}\n')
        again = runner.invoke(
            main, [*github, "--event", "pull_request", "--delivery", "r-1"], env={"KPOPS_BOT_REPLAY_SECRET": "s3cret"}
        )
        assert again.output == '202 {"status":"duplicate","job":1}\n'
        unsigned = runner.invoke(main, [*github, "--event", "pull_request"])
        assert unsigned.exit_code == 1
        assert unsigned.output.startswith("401 ")
        gitlab = ["replay", str(WEBHOOKS / "gitlab-note.json"), "--forge", "gitlab", "--url", server.url]
        note = runner.invoke(main, [*gitlab, "--event", "Note Hook", "--secret", "s3cret"])
        assert note.output == '202 {"status":"queued","job":2}\n'  # a /kpops command
    unreachable = runner.invoke(main, [*github, "--event", "pull_request"])
    assert unreachable.exit_code == 2
    assert "cannot reach" in unreachable.output
    store.close()
