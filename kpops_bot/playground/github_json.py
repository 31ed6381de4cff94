"""GitHub's REST objects as api.github.com's published description requires them: every required field, in its
type, with nulls where GitHub sends them and URLs on the fake's own addresses.

The fake GitHub (`fake_github.py`) answers with these and its webhooks (`hooks.py`) carry them, so a client that
reads a field the bot does not read yet meets what GitHub would send; `testbed/github_openapi.py` checks every
answer of the tests against the description.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

STAMP = "2026-11-21T10:00:00Z"  # the fake's one point in time: when anything was created or updated

# A repository's URL templates (RFC 6570, as GitHub writes them) below its API URL.
_REPOSITORY_URLS = {
    "archive_url": "{archive_format}{/ref}",
    "assignees_url": "assignees{/user}",
    "blobs_url": "git/blobs{/sha}",
    "branches_url": "branches{/branch}",
    "collaborators_url": "collaborators{/collaborator}",
    "comments_url": "comments{/number}",
    "commits_url": "commits{/sha}",
    "compare_url": "compare/{base}...{head}",
    "contents_url": "contents/{+path}",
    "contributors_url": "contributors",
    "deployments_url": "deployments",
    "downloads_url": "downloads",
    "events_url": "events",
    "forks_url": "forks",
    "git_commits_url": "git/commits{/sha}",
    "git_refs_url": "git/refs{/sha}",
    "git_tags_url": "git/tags{/sha}",
    "hooks_url": "hooks",
    "issue_comment_url": "issues/comments{/number}",
    "issue_events_url": "issues/events{/number}",
    "issues_url": "issues{/number}",
    "keys_url": "keys{/key_id}",
    "labels_url": "labels{/name}",
    "languages_url": "languages",
    "merges_url": "merges",
    "milestones_url": "milestones{/number}",
    "notifications_url": "notifications{?since,all,participating}",
    "pulls_url": "pulls{/number}",
    "releases_url": "releases{/id}",
    "stargazers_url": "stargazers",
    "statuses_url": "statuses/{sha}",
    "subscribers_url": "subscribers",
    "subscription_url": "subscription",
    "tags_url": "tags",
    "teams_url": "teams",
    "trees_url": "git/trees{/sha}",
}


class Pull(Protocol):
    """What the fake keeps of a pull request (`fake_github.StoredPull`)."""

    repo: str
    number: int
    author: str
    head_ref: str
    head_sha: str
    base_ref: str
    fork: str | None
    state: str
    merged: bool
    merge_commit_sha: str | None
    mergeable: bool | None
    labels: list[str]
    title: str
    body: str


def number_of(name: str, below: int = 10**8) -> int:
    """A stable id for a name (the same in every process, unlike `hash`)."""
    return zlib.crc32(name.encode()) % below + 1


@dataclass(frozen=True)
class GitHubJson:
    """The objects of one fake GitHub: `api` is its REST API's URL, `web` its pages' (and git's) origin."""

    api: str
    web: str

    def user(self, login: str) -> dict[str, Any]:
        """`simple-user`: an App's bot account (`name[bot]`) is of type Bot."""
        url = f"{self.api}/users/{quote(login)}"
        user_id = number_of(login)
        return {
            "login": login,
            "id": user_id,
            "node_id": f"U_{user_id}",
            "avatar_url": f"{self.web}/avatars/u/{user_id}",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.web}/{quote(login)}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
        }

    def private_user(self, login: str) -> dict[str, Any]:
        """`private-user`: what `GET /user` tells a user about themselves."""
        counts = ("followers", "following", "public_gists", "public_repos", "collaborators", "disk_usage")
        return {
            **self.user(login),
            **dict.fromkeys(("name", "company", "blog", "location", "email", "hireable", "bio")),
            **dict.fromkeys(counts, 0),
            **dict.fromkeys(("owned_private_repos", "private_gists", "total_private_repos"), 0),
            "two_factor_authentication": True,
            "created_at": STAMP,
            "updated_at": STAMP,
            "user_view_type": "private",
        }

    def repository(self, full_name: str) -> dict[str, Any]:
        """`repository`, as pull requests' `base.repo` and `head.repo` and webhooks carry it."""
        owner, name = full_name.split("/")
        url = f"{self.api}/repos/{full_name}"
        host = self.web.split("://", 1)[-1]
        counts = ("forks", "forks_count", "open_issues", "open_issues_count", "size", "stargazers_count")
        return {
            "id": number_of(full_name),
            "node_id": f"R_{number_of(full_name)}",
            "name": name,
            "full_name": full_name,
            "owner": self.user(owner),
            "private": True,
            "html_url": f"{self.web}/{full_name}",
            "description": None,
            "fork": False,
            "url": url,
            **{key: f"{url}/{template}" for key, template in _REPOSITORY_URLS.items()},
            "git_url": f"git://{host}/{full_name}.git",
            "ssh_url": f"git@{host}:{full_name}.git",
            "clone_url": f"{self.web}/{full_name}.git",
            "svn_url": f"{self.web}/{full_name}",
            "homepage": None,
            "language": None,
            "mirror_url": None,
            "license": None,
            **dict.fromkeys(counts, 0),
            **dict.fromkeys(("watchers", "watchers_count"), 0),
            **dict.fromkeys(("has_issues", "has_projects", "has_wiki", "has_downloads"), True),
            **dict.fromkeys(("has_pages", "archived", "disabled"), False),
            "default_branch": "main",
            "visibility": "private",
            "is_template": False,
            "topics": [],
            "web_commit_signoff_required": False,
            "custom_properties": {},
            "pushed_at": STAMP,
            "created_at": STAMP,
            "updated_at": STAMP,
        }

    def label(self, repo: str, name: str) -> dict[str, Any]:
        return {
            "id": number_of(f"{repo}:{name}"),
            "node_id": f"LA_{number_of(f'{repo}:{name}')}",
            "url": f"{self.api}/repos/{repo}/labels/{quote(name)}",
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def issue(
        self, repo: str, number: int, *, login: str, title: str, body: str | None, state: str, comments: int
    ) -> dict[str, Any]:
        """`issue`."""
        url = f"{self.api}/repos/{repo}/issues/{number}"
        return {
            "id": 50_000 + number,
            "node_id": f"I_{number}",
            "number": number,
            "url": url,
            "repository_url": f"{self.api}/repos/{repo}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.web}/{repo}/issues/{number}",
            "title": title,
            "body": body,
            "state": state,
            "locked": False,
            "user": self.user(login),
            "labels": [],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": comments,
            "author_association": "MEMBER",
            "closed_at": STAMP if state == "closed" else None,
            "created_at": STAMP,
            "updated_at": STAMP,
        }

    def pull_issue(self, pull: Pull, *, comments: int) -> dict[str, Any]:
        """`issue` of a pull request: GitHub lists pull requests among the issues, `pull_request` linking each."""
        state = "open" if pull.state == "open" else "closed"
        issue = self.issue(
            pull.repo,
            pull.number,
            login=pull.author,
            title=pull_title(pull),
            body=pull.body or None,
            state=state,
            comments=comments,
        )
        pull_url = f"{self.api}/repos/{pull.repo}/pulls/{pull.number}"
        html = f"{self.web}/{pull.repo}/pull/{pull.number}"
        issue["html_url"] = html
        issue["labels"] = [self.label(pull.repo, name) for name in pull.labels]
        issue["pull_request"] = {
            "url": pull_url,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": STAMP if pull.merged else None,
        }
        return issue

    def comment(self, repo: str, number: int, comment_id: int, *, login: str, body: str) -> dict[str, Any]:
        """`issue-comment`: a comment on a pull request is one on its issue."""
        repo_url = f"{self.api}/repos/{repo}"
        return {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{repo_url}/issues/comments/{comment_id}",
            "html_url": f"{self.web}/{repo}/pull/{number}#issuecomment-{comment_id}",
            "issue_url": f"{repo_url}/issues/{number}",
            "body": body,
            "user": self.user(login),
            "created_at": STAMP,
            "updated_at": STAMP,
            "author_association": "MEMBER",
        }

    def reaction(self, reaction_id: int, *, login: str, content: str) -> dict[str, Any]:
        return {
            "id": reaction_id,
            "node_id": f"REA_{reaction_id}",
            "user": self.user(login),
            "content": content,
            "created_at": STAMP,
        }

    def status(
        self, repo: str, sha: str, status_id: int, *, state: str, description: str, context: str, **more: Any
    ) -> dict[str, Any]:
        """`status`: `more` holds `target_url` and the `creator`'s login."""
        return {
            "url": f"{self.api}/repos/{repo}/statuses/{sha}",
            "avatar_url": None,
            "id": status_id,
            "node_id": f"SC_{status_id}",
            "state": state,
            "description": description,
            "target_url": more["target_url"],
            "context": context,
            "created_at": STAMP,
            "updated_at": STAMP,
            "creator": self.user(more["creator"]),
        }

    def app(self, app_id: int, slug: str, owner: str) -> dict[str, Any]:
        """`integration`: a GitHub App."""
        return {
            "id": app_id,
            "slug": slug,
            "node_id": f"A_{app_id}",
            "client_id": f"Iv1.{app_id}",
            "owner": self.user(owner),
            "name": slug,
            "description": None,
            "external_url": f"{self.web}/{owner}",
            "html_url": f"{self.web}/apps/{slug}",
            "created_at": STAMP,
            "updated_at": STAMP,
            "permissions": {"checks": "write", "contents": "read", "issues": "write", "pull_requests": "write"},
            "events": ["issue_comment", "pull_request", "push"],
        }

    def installation(self, installation_id: int, app_id: int, app_slug: str, account: str) -> dict[str, Any]:
        """`installation`: an App's on one account's repositories."""
        url = f"{self.api}/app/installations/{installation_id}"
        return {
            "id": installation_id,
            "app_id": app_id,
            "app_slug": app_slug,
            "client_id": f"Iv1.{app_id}",
            "account": self.user(account),
            "target_id": number_of(account),
            "target_type": "Organization",
            "repository_selection": "selected",
            "single_file_name": None,
            "access_tokens_url": f"{url}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/organizations/{account}/settings/installations/{installation_id}",
            "events": ["issue_comment", "pull_request", "push"],
            "permissions": {"checks": "write", "contents": "read", "issues": "write", "pull_requests": "write"},
            "created_at": STAMP,
            "updated_at": STAMP,
            "suspended_by": None,
            "suspended_at": None,
        }

    def check_run(self, repo: str, run_id: int, *, app: dict[str, Any] | None, **run: Any) -> dict[str, Any]:
        """`check-run`: `run` holds `head_sha`, `name`, `status`, `conclusion`, `output` and `annotations_count`."""
        url = f"{self.api}/repos/{repo}/check-runs/{run_id}"
        output = {key: run["output"].get(key) for key in ("title", "summary", "text")}
        return {
            "id": run_id,
            "node_id": f"CR_{run_id}",
            "url": url,
            "html_url": f"{self.web}/{repo}/runs/{run_id}",
            "details_url": None,
            "external_id": None,
            "head_sha": run["head_sha"],
            "name": run["name"],
            "status": run["status"],
            "conclusion": run["conclusion"],
            "started_at": STAMP,
            "completed_at": STAMP if run["status"] == "completed" else None,
            "output": {
                **output,
                "annotations_count": run["annotations_count"],
                "annotations_url": f"{url}/annotations",
            },
            "check_suite": {"id": number_of(f"{repo}@{run['head_sha']}")},
            "app": app,
            "pull_requests": [],
        }

    def file(self, repo: str, path: str, ref: str, *, content: str, size: int) -> dict[str, Any]:
        """`content-file`: `content` is base64."""
        url = f"{self.api}/repos/{repo}/contents/{quote(path)}?ref={quote(ref)}"
        html = f"{self.web}/{repo}/blob/{quote(ref)}/{quote(path)}"
        git = f"{self.api}/repos/{repo}/git/blobs/{'0' * 40}"
        return {
            "type": "file",
            "encoding": "base64",
            "size": size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": content,
            "sha": "0" * 40,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": f"{self.web}/{repo}/raw/{quote(ref)}/{quote(path)}",
            "_links": {"self": url, "git": git, "html": html},
        }

    def review(self, repo: str, number: int, review_id: int, *, login: str, state: str, commit: str) -> dict[str, Any]:
        """`pull-request-review`."""
        pull_url = f"{self.api}/repos/{repo}/pulls/{number}"
        html = f"{self.web}/{repo}/pull/{number}#pullrequestreview-{review_id}"
        return {
            "id": review_id,
            "node_id": f"PRR_{review_id}",
            "user": self.user(login),
            "body": "",
            "state": state,
            "commit_id": commit,
            "html_url": html,
            "pull_request_url": pull_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "author_association": "MEMBER",
            "submitted_at": STAMP,
        }

    def pull_simple(self, pull: Pull) -> dict[str, Any]:
        """`pull-request-simple`: a pull request as GitHub lists them (no merge state, no counts)."""
        repo_url = f"{self.api}/repos/{pull.repo}"
        url = f"{repo_url}/pulls/{pull.number}"
        html = f"{self.web}/{pull.repo}/pull/{pull.number}"
        issue_url = f"{repo_url}/issues/{pull.number}"
        statuses_url = f"{repo_url}/statuses/{pull.head_sha}"
        links = {
            "self": url,
            "html": html,
            "issue": issue_url,
            "comments": f"{issue_url}/comments",
            "review_comments": f"{url}/comments",
            "review_comment": f"{repo_url}/pulls/comments{{/number}}",
            "commits": f"{url}/commits",
            "statuses": statuses_url,
        }
        head_repo = pull.fork or pull.repo
        return {
            "id": pull.number + 7_000_000,
            "node_id": f"PR_{pull.number}",
            "number": pull.number,
            "url": url,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": statuses_url,
            "_links": {key: {"href": href} for key, href in links.items()},
            "state": pull.state,
            "locked": False,
            "title": pull_title(pull),
            "body": pull.body or None,
            "user": self.user(pull.author),
            "labels": [self.label(pull.repo, name) for name in pull.labels],
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "milestone": None,
            "draft": False,
            "merge_commit_sha": pull.merge_commit_sha,
            "merged_at": STAMP if pull.merged else None,
            "closed_at": STAMP if pull.state == "closed" else None,
            "created_at": STAMP,
            "updated_at": STAMP,
            "author_association": "MEMBER",
            "auto_merge": None,
            "base": self._end(pull.repo, pull.base_ref, "0" * 40),
            "head": self._end(head_repo, pull.head_ref, pull.head_sha),
        }

    def pull(self, pull: Pull, *, comments: int) -> dict[str, Any]:
        """`pull-request`: one pull request as GitHub answers it, merge state and counts included."""
        merged_by = self.user(pull.repo.split("/")[0]) if pull.merged else None
        return {
            **self.pull_simple(pull),
            "merged": pull.merged,
            "mergeable": pull.mergeable if pull.state == "open" else None,
            "mergeable_state": "clean" if pull.mergeable else "unknown",
            "merged_by": merged_by,
            "maintainer_can_modify": False,
            **dict.fromkeys(("commits", "additions", "deletions", "changed_files", "review_comments"), 0),
            "comments": comments,
        }

    def _end(self, repo: str, ref: str, sha: str) -> dict[str, Any]:
        """A pull request's `base` or `head`: the branch of a repository and its commit."""
        owner = repo.split("/", maxsplit=1)[0]
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(owner),
            "repo": self.repository(repo),
        }


def pull_title(pull: Pull) -> str:
    """Its title; tests register pull requests without one, which GitHub never answers."""
    return pull.title or f"Pull request {pull.number}"
