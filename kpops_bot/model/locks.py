"""What pipeline locks hand out and take back (`kpops_bot.locks` keeps them in the store): plain values, so that the
workflows' ports name them without loading the store."""

from __future__ import annotations

from dataclasses import dataclass

from kpops_bot.jobs import NewJob


@dataclass(frozen=True, order=True)
class Resource:
    environment: str  # "" for kpops' default environment
    pipeline: str

    def __str__(self) -> str:
        return f"{self.pipeline} ({self.environment})" if self.environment else self.pipeline


@dataclass(frozen=True)
class Granted:
    pass


@dataclass(frozen=True)
class Waiting:
    position: int  # 1: next in line
    held_by: dict[Resource, int]  # what another pull request holds now
    ahead: list[int]  # pull requests waiting before this one, in order


@dataclass(frozen=True)
class Waiter:
    """A stored wait: the job to queue again once its pipelines may be free."""

    id: int
    number: int
    resources: frozenset[Resource]
    job: NewJob


@dataclass(frozen=True)
class Released:
    freed: list[Resource]  # what the pull request held and no longer does
    woken: list[Waiter]  # the waiters that may go on now, in line order
