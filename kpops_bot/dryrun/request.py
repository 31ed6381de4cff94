"""What a dry run compares: plain values, so that the workflows' ports name it without loading the dry run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpops_bot.model.policy import PolicyRevision
from kpops_bot.model.render import Mode


@dataclass(frozen=True)
class DiffRequest:
    """Compare `head` with its merge base with `base`, as a pull request from head into base sees it."""

    source: str
    base: str
    head: str
    environments: Sequence[str | None] = (None,)
    mode: Mode = Mode.MANIFEST
    config_dir: str = "."
    only: Sequence[str] = ()
    # The command line's: an environment neither side has a file for is an error. The bot's environments come from
    # its settings, where a repository without files for one still renders (kpops' base files).
    known_environments_only: bool = False
    policies_at: PolicyRevision = PolicyRevision.MERGE_BASE
    # A policy gate's dry run (`workflows/policy_gate.py`): with no policy to judge, nothing is rendered.
    only_if_judged: bool = False
    # The command line's, a process of its own: the diffs of cached renders are shared with a fork of it
    # (`dryrun/forked.py`). The bot's server runs jobs in parallel already, and forking a threaded server would
    # copy its heap for every wide diff.
    fork_for_diffs: bool = False
