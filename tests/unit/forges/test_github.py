"""The GitHub client reads GitHub's lists as GitHub gives them: its issue list holds the pull requests too."""

from __future__ import annotations

from pathlib import Path

from kpops_bot.playground.fake_github import StoredPull
from testbed.forges import running_github
from testbed.repos import GitRepo

MARKER = "<!-- kpops-bot:drift main -->"


def test_the_bots_open_issue_is_found_past_a_pull_request_github_lists_among_the_issues(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "work")
    repo.write("README.md", "deployments\n")
    head = repo.commit("first")
    with running_github(repo.bare_clone(tmp_path / "hosted.git")) as (forge, fake):
        body = f"{MARKER}\nThe cluster differs from main."
        # Written by the bot's login with the marker, as a pull request the bot opened could be: not an issue.
        fake.set_pull(StoredPull("acme/deployments", 3, forge.bot, "feature", head, title="Drift on main", body=body))
        assert forge.client.open_issue_with(forge.repository, MARKER) is None
        issue = forge.client.create_issue(forge.repository, "Drift on main", body)
        assert forge.issues() == [(issue.number, body)], "the pull request did not pass for the issue"
        assert forge.client.open_issue_with(forge.repository, MARKER) == issue
