"""Which kpops a deployment repository asks for, read from its files at the revision being rendered.

In order: `.kpops-bot.yaml` `kpops_version` (a PEP 440 specifier), the kpops requirement of a
`requirements*.txt` at the repository's root, the kpops dependency of its `pyproject.toml` (PEP 621 or Poetry);
without any, the bot's own kpops. Parsing is `packaging`'s; only the file conventions are written here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from kpops_bot.bounded_yaml import MAX_BYTES, UnsafeYamlError, load_bounded

BOT_CONFIG_FILE = ".kpops-bot.yaml"
PYPROJECT_FILE = "pyproject.toml"
_REQUIREMENTS = re.compile(r"requirements[^/]*\.txt")
_POETRY_CARET = re.compile(r"\^\s*(\d+)((?:\.\d+)*)")
_POETRY_TILDE = re.compile(r"~\s*(\d+)\.(\d+)((?:\.\d+)*)")
MAX_PIN_LENGTH = 64


class PinSource(StrEnum):
    BOT_CONFIG = "bot-config"
    REQUIREMENTS = "requirements"
    PYPROJECT = "pyproject"
    DEFAULT = "default"


class InvalidPinError(ValueError):
    """A pin the repository states but that is not a valid specifier; the message names file and value."""


@dataclass(frozen=True)
class Pin:
    """What the repository asks for; an empty specifier with source DEFAULT means the bot's own kpops."""

    specifier: SpecifierSet
    source: PinSource
    file: str | None = None

    @property
    def is_default(self) -> bool:
        return self.source is PinSource.DEFAULT

    def describe(self) -> str:
        if self.file is None:
            return "the bot's kpops"
        return f"kpops{self.specifier} ({self.file})"


DEFAULT_PIN = Pin(SpecifierSet(), PinSource.DEFAULT)


def find_pin(files: Iterable[str], read: Callable[[str], str | None]) -> Pin:
    """The pin of a repository whose files (paths relative to its root) are `files`, read through `read`."""
    listed = set(files)
    if BOT_CONFIG_FILE in listed and (pin := _from_bot_config(read(BOT_CONFIG_FILE))) is not None:
        return pin
    for name in sorted(path for path in listed if _REQUIREMENTS.fullmatch(path)):
        if (specifier := _from_requirements(_bounded(read(name), name))) is not None:
            return Pin(specifier, PinSource.REQUIREMENTS, name)
    if (
        PYPROJECT_FILE in listed
        and (specifier := _from_pyproject(_bounded(read(PYPROJECT_FILE), PYPROJECT_FILE))) is not None
    ):
        return Pin(specifier, PinSource.PYPROJECT, PYPROJECT_FILE)
    return DEFAULT_PIN


def parse_specifier(text: str, where: str) -> SpecifierSet:
    """`text` as a PEP 440 specifier; a bare version means exactly that version."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)*", text):
        text = f"=={text}"
    try:
        return SpecifierSet(text)
    except InvalidSpecifier as error:
        raise InvalidPinError(f"{where}: {text!r} is not a version specifier (e.g. '~=8.1.4')") from error


def pin_text(value: object, where: str) -> str:
    """A pin as the file states it: a short scalar (`8.1.4`, `~=8.1`), never a list, mapping or long text."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        msg = f"{where} must be a version specifier such as '~=8.1.4', not a YAML {type(value).__name__}"
        raise InvalidPinError(msg)
    text = str(value)
    if len(text) > MAX_PIN_LENGTH:
        msg = f"{where} is {len(text)} characters long; a version specifier has at most {MAX_PIN_LENGTH}"
        raise InvalidPinError(msg)
    return text


def _from_bot_config(text: str | None) -> Pin | None:
    try:
        data = load_bounded(text or "", BOT_CONFIG_FILE, allow_aliases=False)
    except UnsafeYamlError as error:
        raise InvalidPinError(str(error)) from error
    except yaml.YAMLError:
        return None  # the bot's config check reports the broken file
    value = data.get("kpops_version") if isinstance(data, dict) else None
    if value is None:
        return None
    where = f"{BOT_CONFIG_FILE} kpops_version"
    specifier = parse_specifier(pin_text(value, where), where)
    return Pin(specifier, PinSource.BOT_CONFIG, BOT_CONFIG_FILE)


def _bounded(text: str | None, name: str) -> str:
    """The text of a file the pin is read from; refused before parsing when larger than the cap."""
    text = text or ""
    if len(text) > MAX_BYTES:
        msg = f"{name} is {len(text)} characters long; files larger than {MAX_BYTES} bytes are not read"
        raise InvalidPinError(msg)
    return text


def _from_requirements(text: str) -> SpecifierSet | None:
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        specifier = _kpops_specifier(line)
        if specifier is not None:
            return specifier
    return None


def _from_pyproject(text: str) -> SpecifierSet | None:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    project = data.get("project", {})
    groups = project.get("optional-dependencies", {})
    for line in [*project.get("dependencies", []), *(dep for deps in groups.values() for dep in deps)]:
        if isinstance(line, str) and (specifier := _kpops_specifier(line)) is not None:
            return specifier
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    value = poetry.get("kpops")
    if isinstance(value, dict):
        value = value.get("version")
    return _poetry_specifier(value) if isinstance(value, str) else None


def _kpops_specifier(line: str) -> SpecifierSet | None:
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return None
    return requirement.specifier if canonicalize_name(requirement.name) == "kpops" else None


def _poetry_specifier(value: str) -> SpecifierSet | None:
    """Poetry's `^` and `~` constraints in PEP 440 terms; anything else is already PEP 440 (or a bare version)."""
    if value.strip() == "*":
        return SpecifierSet()
    if caret := _POETRY_CARET.fullmatch(value.strip()):
        major, rest = int(caret[1]), caret[2]
        return SpecifierSet(f">={major}{rest},<{major + 1}")
    if tilde := _POETRY_TILDE.fullmatch(value.strip()):
        first, minor, rest = tilde[1], int(tilde[2]), tilde[3]
        return SpecifierSet(f">={first}.{minor}{rest},<{first}.{minor + 1}")
    try:
        return parse_specifier(value, PYPROJECT_FILE)
    except InvalidPinError:
        return None
