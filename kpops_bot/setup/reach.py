"""Why a forge could not be reached, in a few words: the operating system's reason (`Connection refused`, `Name or
service not known`, `timed out`) found at the bottom of what requests, urllib3 or httpx wrapped it in, rather than
their one-line summaries of a whole retry pool with object addresses in them."""

from __future__ import annotations

from collections.abc import Iterator

_MAX = 300


def unreachable_cause(error: BaseException) -> str:
    for link in _chain(error):
        if isinstance(link, TimeoutError):
            return "timed out"
        if isinstance(link, OSError) and link.strerror:
            return link.strerror
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= _MAX else f"{text[: _MAX - 1]}…"


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps: causes, contexts, urllib3's `reason` and requests' first argument."""
    seen: set[int] = set()
    waiting: list[BaseException] = [error]
    while waiting:
        link = waiting.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        wrapped = [link.__cause__, link.__context__, getattr(link, "reason", None), *link.args[:1]]
        waiting += [inner for inner in wrapped if isinstance(inner, BaseException)]
