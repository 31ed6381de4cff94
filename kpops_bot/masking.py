"""Secrets never leave the bot: values under secret-looking keys, Kubernetes Secret data and any value the bot holds.

Masking is done on a base and a head document together so that a masked value still shows that it changed:
the base side reads `***`, the head side `*** (changed)` when the hidden values differ. A Secret's `data` and
`stringData` are masked whether it is on both sides or only one (added, removed). Every other string goes through
`mask_text`: held secrets in any encoding, credentials in URLs and `password=` lines (`secret_forms`).
One masker serves previews, command answers and logs alike (`BotSettings.secrets_masker`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from kpops_bot.secret_forms import mask_secret_lines, mask_url_credentials, replacer

MASK = "***"
CHANGED_MASK = "*** (changed)"

DEFAULT_SECRET_KEY_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "privatekey",
    "apikey",
    "accesskey",
    "sasljaasconfig",
    "keystorekey",
    "userinfo",  # basic.auth.user.info: `user:password`
)
# Keys that name or point to a secret rather than hold one (`secretName`, `secretKeyRef`, `password.file`).
DEFAULT_REFERENCE_SUFFIXES = ("name", "ref", "path", "file", "location", "type")
# Shorter values would mask unrelated text (a `1`, a `true`).
MIN_KNOWN_SECRET_LENGTH = 4
_SECRET_RESOURCE_FIELDS = frozenset({"data", "stringData"})


@functools.lru_cache(maxsize=4096)  # the same few hundred keys, in every document of a run
def _normalise_key(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


@dataclass(frozen=True)
class Masker:
    """Decides what is secret and replaces it; pure, safe to share between threads."""

    key_words: tuple[str, ...] = DEFAULT_SECRET_KEY_WORDS
    reference_suffixes: tuple[str, ...] = DEFAULT_REFERENCE_SUFFIXES
    known_secrets: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def create(cls, key_words: Iterable[str] | None = None, known_secrets: Iterable[str] = ()) -> Masker:
        words = DEFAULT_SECRET_KEY_WORDS if key_words is None else tuple(_normalise_key(w) for w in key_words)
        secrets = frozenset(s for s in known_secrets if len(s) >= MIN_KNOWN_SECRET_LENGTH)
        return cls(key_words=words, known_secrets=secrets)

    def with_secrets(self, secrets: Iterable[str]) -> Masker:
        added = {s for s in secrets if len(s) >= MIN_KNOWN_SECRET_LENGTH}
        return Masker(self.key_words, self.reference_suffixes, self.known_secrets | added)

    def is_secret_key(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        known = self._secret_keys.get(key)
        if known is None:
            normalised = _normalise_key(key)
            known = not normalised.endswith(self.reference_suffixes) and any(w in normalised for w in self.key_words)
            _remember(self._secret_keys, key, known)
        return known

    @cached_property
    def _held(self) -> re.Pattern[str] | None:
        return replacer(self.known_secrets)

    # What this masker decided before, per key and per text: every render of a run has the same keys and mostly
    # the same values (images, topics, settings), and a diff masks each of them once per side and per pipeline.
    @cached_property
    def _secret_keys(self) -> dict[str, bool]:
        return {}

    @cached_property
    def _masked_texts(self) -> dict[str, str]:
        return {}

    def mask_text(self, text: str) -> str:
        """The text with every secret the bot holds replaced in any encoding, URL credentials and the values of
        secret-looking `key=value` / `key: value` lines masked."""
        masked = self._masked_texts.get(text)
        if masked is None:
            masked = self._held.sub(MASK, text) if self._held is not None else text
            masked = mask_secret_lines(mask_url_credentials(masked), self.is_secret_key)
            if len(text) <= _REMEMBERED_TEXT:  # values, not log records or whole messages
                _remember(self._masked_texts, text, masked)
        return masked

    def mask(self, document: Any, *, secret_fields: frozenset[str] = frozenset()) -> Any:
        return self.mask_pair(document, document, secret_fields=secret_fields)[0]

    def mask_resource_pair(self, base: Any, head: Any) -> tuple[Any, Any]:
        """Like `mask_pair`, treating everything under a Kubernetes Secret's `data` and `stringData` as secret."""
        kinds = {doc.get("kind") for doc in (base, head) if isinstance(doc, dict)}
        fields = _SECRET_RESOURCE_FIELDS if "Secret" in kinds else frozenset()
        return self.mask_pair(base, head, secret_fields=fields)

    def mask_resource(self, resource: Any) -> Any:
        return self.mask_resource_pair(resource, resource)[0]

    def mask_pair(self, base: Any, head: Any, *, secret_fields: frozenset[str] = frozenset()) -> tuple[Any, Any]:
        """Both documents masked; a hidden value that differs reads `*** (changed)` on the head side.

        `secret_fields` are top-level keys whose whole content is secret.
        """
        if isinstance(base, dict) and isinstance(head, dict):
            return self._pair_mappings(base, head, secret=False, top_level_secrets=secret_fields)
        if secret_fields and (isinstance(base, dict) or isinstance(head, dict)):  # added or removed
            return self._alone_document(base, secret_fields), self._alone_document(head, secret_fields)
        return self._pair(base, head, secret=False)

    def _alone_document(self, document: Any, secret_fields: frozenset[str]) -> Any:
        if isinstance(document, dict):
            return self._pair_mappings(document, document, secret=False, top_level_secrets=secret_fields)[0]
        return self._alone(document, secret=False)

    def _pair(self, base: Any, head: Any, *, secret: bool) -> tuple[Any, Any]:
        if isinstance(base, dict) and isinstance(head, dict):
            return self._pair_mappings(base, head, secret=secret)
        if isinstance(base, list) and isinstance(head, list):
            return self._pair_lists(base, head, secret=secret)
        if isinstance(base, dict | list) or isinstance(head, dict | list):
            return self._alone(base, secret=secret), self._alone(head, secret=secret)
        return self._pair_scalars(base, head, secret=secret)

    def _alone(self, value: Any, *, secret: bool) -> Any:
        return self._pair(value, value, secret=secret)[0]

    def _pair_scalars(self, base: Any, head: Any, *, secret: bool) -> tuple[Any, Any]:
        if secret:
            masked_base = None if base is None else MASK
            masked_head = None if head is None else (MASK if head == base else CHANGED_MASK)
            return masked_base, masked_head
        masked_base = self.mask_text(base) if isinstance(base, str) else base
        masked_head = self.mask_text(head) if isinstance(head, str) else head
        if masked_head == masked_base and head != base and isinstance(masked_head, str):
            masked_head = f"{masked_head} (changed)"
        return masked_base, masked_head

    def _pair_mappings(
        self,
        base: dict[Any, Any],
        head: dict[Any, Any],
        *,
        secret: bool,
        top_level_secrets: frozenset[str] = frozenset(),
    ) -> tuple[dict[Any, Any], dict[Any, Any]]:
        # Kubernetes env entries and similar lists: `{name: KAFKA_PASSWORD, value: ...}`.
        named_secret = self.is_secret_key(base.get("name")) or self.is_secret_key(head.get("name"))

        def secret_child(key: Any) -> bool:
            return (
                secret
                or key in top_level_secrets
                or self.is_secret_key(key)
                or (named_secret and key in ("value", "default"))
            )

        masked_base: dict[Any, Any] = {}
        head_values: dict[Any, Any] = {}
        for key, value in base.items():
            if key in head:
                masked_base[key], head_values[key] = self._pair(value, head[key], secret=secret_child(key))
            else:
                masked_base[key] = self._alone(value, secret=secret_child(key))
        masked_head = {
            key: head_values[key] if key in head_values else self._alone(value, secret=secret_child(key))
            for key, value in head.items()
        }
        return masked_base, masked_head

    def _pair_lists(self, base: list[Any], head: list[Any], *, secret: bool) -> tuple[list[Any], list[Any]]:
        """Items paired by `name` when both sides are named lists, else by index; each pair is masked once."""
        base_names, head_names = _names(base), _names(head)
        if base_names is not None and head_names is not None:
            head_by_name = dict(zip(head_names, head, strict=True))
            paired = {
                name: self._pair(item, head_by_name[name], secret=secret)
                for name, item in zip(base_names, base, strict=True)
                if name in head_by_name
            }
            masked_base = [
                paired[name][0] if name in paired else self._pair(item, item, secret=secret)[0]
                for name, item in zip(base_names, base, strict=True)
            ]
            masked_head = [
                paired[name][1] if name in paired else self._pair(item, item, secret=secret)[1]
                for name, item in zip(head_names, head, strict=True)
            ]
            return masked_base, masked_head
        pairs = [self._pair(old, new, secret=secret) for old, new in zip(base, head, strict=False)]
        shared = len(pairs)
        masked_base = [pair[0] for pair in pairs] + [self._pair(item, item, secret=secret)[0] for item in base[shared:]]
        masked_head = [pair[1] for pair in pairs] + [self._pair(item, item, secret=secret)[1] for item in head[shared:]]
        return masked_base, masked_head


_REMEMBERED = 50_000  # entries per masker and kind: one run's keys and texts; a long-lived masker starts over
_REMEMBERED_TEXT = 512


def _remember(memory: dict[str, Any], key: str, value: Any) -> None:
    if len(memory) >= _REMEMBERED:
        memory.clear()
    memory[key] = value


def _names(items: list[Any]) -> list[Any] | None:
    """The `name` of every item when all are mappings with distinct names (env vars, containers, ports)."""
    names = [item.get("name") for item in items if isinstance(item, dict)]
    if len(names) != len(items) or None in names or len(set(map(repr, names))) != len(names):
        return None
    return names


class MaskingFilter(logging.Filter):
    """Masks the secrets the bot holds in every record passing a handler, arguments and exception text included."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.masker.mask_text(message)
        if masked != message:  # untouched records keep their arguments: some formatters (uvicorn's) read them
            record.msg = masked
            record.args = None
        if record.exc_info:
            record.exc_text = self.masker.mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def mask_logs(masker: Masker, logger: logging.Logger | None = None) -> MaskingFilter:
    """Attach a masking filter to every handler of `logger` (the root logger by default)."""
    masking = MaskingFilter(masker)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(masking)
    return masking


def mask_server_logs(masker: Masker) -> None:
    """Mask the handlers of the root logger and of uvicorn's loggers (which have their own when configured so)."""
    for name in ("", "uvicorn", "uvicorn.access"):
        mask_logs(masker, logging.getLogger(name))
