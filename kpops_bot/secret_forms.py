"""The forms a secret takes inside text, for `masking.Masker`. Pure.

- **Held secrets in other encodings**: a value the bot holds shows up as itself, URL-encoded (every reserved
  character encoded, or `/` kept as `quote` does by default; `+` for spaces; hex digits upper or lower case),
  JSON-escaped, or base64-encoded, also inside a longer base64 text (a basic-auth header, a Secret's `data`):
  base64 is matched at each of its three alignments, so `b64("user:" + secret)` still reveals nothing.
- **Credentials in URLs**: `postgresql://app:pw@host` keeps the user (`app:***@host`), `redis://:pw@host` and
  `https://token@host` lose what they hold.
- **`key=value` and `key: value` lines** inside multi-line strings (properties files, YAML or env files in a
  ConfigMap) whose key looks secret (the caller decides which keys do).

Hand-written: no library covers the alignment-independent base64 forms and the line shapes together, and the
rules are few.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s/@:'\"]*)(?::(?P<password>[^\s/@'\"]*))?@"
)
_SECRET_LINE = re.compile(
    r"^(?P<lead>[ \t]*(?:export[ \t]+)?[\"']?)(?P<key>[A-Za-z0-9_.\-]+)"
    r"(?P<sep>[\"']?[ \t]*[=:][ \t]*)(?P<value>\S.*?)[ \t]*$",
    re.MULTILINE,
)
_PERCENT = re.compile(r"%[0-9A-F]{2}")
_MIN_BASE64_CHARS = 6  # shorter runs of base64 characters would match ordinary words


def encoded_forms(secret: str) -> set[str]:
    """The secret and every encoding of it the masker replaces."""
    url_forms = {quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe="/")}
    forms = {secret, *url_forms, *(_PERCENT.sub(lambda m: m[0].lower(), form) for form in url_forms)}
    forms |= {json.dumps(secret, ensure_ascii=ascii_only)[1:-1] for ascii_only in (True, False)}
    raw = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            text = encode(b"\0" * offset + raw).decode()
            start = -(-offset * 8 // 6)  # the first character made only of the secret's bits
            end = (offset + len(raw)) * 8 // 6  # after the last one
            if end - start >= _MIN_BASE64_CHARS:
                forms.add(text[start:end])
    return {form for form in forms if form}


def replacer(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching every form of every secret, longest first (one may contain another)."""
    forms = {form for secret in secrets for form in encoded_forms(secret)}
    if not forms:
        return None
    return re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))


def mask_url_credentials(text: str) -> str:
    def masked(match: re.Match[str]) -> str:
        user, password = match["user"], match["password"]
        if password is None:
            return f"{match['scheme']}{MASK}@" if user else match[0]
        return f"{match['scheme']}{user}:{MASK}@"

    return _URL_CREDENTIALS.sub(masked, text) if "@" in text else text


def mask_secret_lines(text: str, is_secret_key: Callable[[str], bool]) -> str:
    """`password=...` / `password: ...` lines with their value masked; other lines as they were."""
    if "=" not in text and ":" not in text:
        return text

    def masked(match: re.Match[str]) -> str:
        if not is_secret_key(match["key"]) or match["value"] == MASK:
            return match[0]
        return f"{match['lead']}{match['key']}{match['sep']}{MASK}"

    return _SECRET_LINE.sub(masked, text)
