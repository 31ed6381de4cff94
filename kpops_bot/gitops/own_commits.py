"""Which pushes are the bot's own GitOps commits (not applied again), known by what they are: who committed them and
what they touch, never by what their message says. Pure.

A message line proves nothing: a squash merge carries the pull request's messages, so anyone who can open a pull
request could write the bot's trailer into one and skip the apply of their change. A push is the bot's own only
when it lands on the branch the bot publishes to (the GitOps target is this repository and this branch), every
commit pushed was committed with the bot's identity (`gitops.author_name`/`author_email`, which the bot's clone
commits with), and every path it changes lies inside the layout the bot writes (`gitops.path`).

Git's committer is what the pusher wrote, so someone with push rights can claim the bot's identity; what that buys
them is a push that changes nothing but the rendered folders, which an apply would not deploy either (with
`gitops.path: .` every path is the layout's: publish to a branch of its own there). The facts are read from git in
the worker, for both forges: GitHub's push payload names the head commit's committer, but GitLab's Push Hook lists
its commits with their authors only, and a payload's file lists stop at a size the repository does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpops_bot.gitops.target import Target


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


@dataclass(frozen=True)
class Pushed:
    """What git says a push brought: each new commit's committer, and every path changed from before to after."""

    committers: Sequence[Identity]
    paths: Sequence[str]


def is_own_push(pushed: Pushed, target: Target, repository_url: str, branch: str, layout_path: str) -> bool:
    """The push is the bot's own GitOps commit: its target, its identity, and nothing outside its layout."""
    if target.url != repository_url or target.branch != branch or not pushed.committers:
        return False
    bot = Identity(target.author_name, target.author_email)
    if any(committer != bot for committer in pushed.committers):
        return False
    folder = layout_path.strip("/")
    return all(folder in ("", ".") or path.startswith(folder + "/") for path in pushed.paths)
