"""How a failed forge call is told: the call, the forge's own words and the URL, never a credential.

An operator reading "GitHub comment creation: HTTP 401 Bad credentials (https://api.github.com/repos/a/b/issues/5/
comments)" knows which forge refused what, and why, without a debugger; "HTTP 401" alone told them neither. URLs lose
their user-info and query (where a token could ride) before they are told.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from kpops_bot.model.forge import ForgeError
from kpops_bot.text import shorten

_MESSAGE_LIMIT = 300  # a forge's message is a sentence


def without_credentials(url: str) -> str:
    """The URL without user-info, query and fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def refused(forge: str, what: str, status: int, message: str, url: str, *, transient: bool) -> ForgeError:
    """The forge answered with an error status."""
    # A proxy's HTML error page in front of the forge is no message of the forge's.
    said = "" if message.lstrip().startswith("<") else shorten(" ".join(message.split()), _MESSAGE_LIMIT)
    # GitLab's messages start with the status ("401 Unauthorized"); GitHub's do not ("Bad credentials").
    answer = said if said.startswith(str(status)) else f"{status} {said}".rstrip()
    return ForgeError(f"{forge} {what}: HTTP {answer} ({without_credentials(url)})", status=status, transient=transient)


def unanswered(forge: str, what: str, url: str, error: BaseException) -> ForgeError:
    """No answer: the forge cannot be reached or did not answer in time."""
    return ForgeError(
        f"{forge} {what}: no answer from {without_credentials(url)} ({type(error).__name__})", transient=True
    )
