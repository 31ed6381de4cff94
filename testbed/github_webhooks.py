"""GitHub's webhooks as GitHub publishes them: `@octokit/webhooks-schemas` (a JSON schema per event and action) and
`@octokit/webhooks-examples` (payloads GitHub sent), which `scripts/setup dev` installs into `.tools/` in the
version `OCTOKIT_WEBHOOKS_VERSION` names.

`problems()` names what the schema refuses of one payload, a validator compiled once per event and action. A
`null`-or-object field that fails is reported by the object's failures (not as "not valid under any of the given
schemas"), so that a reader sees which field is missing.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

from testbed.github_openapi import OCTOKIT_WEBHOOKS_VERSION, ROOT

PACKAGES = ROOT / ".tools" / "node_modules" / "@octokit"
SCHEMA = PACKAGES / "webhooks-schemas" / "schema.json"
EXAMPLES = PACKAGES / "webhooks-examples" / "api.github.com" / "index.json"
# Events whose deliveries carry no `action`: one schema for all of them.
_WITHOUT_ACTION = {"push", "ping", "create", "delete", "fork", "gollum", "public", "status", "watch"}


def _read(path: Path, package: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: scripts/setup dev installs {package}@{OCTOKIT_WEBHOOKS_VERSION}")
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def _definitions() -> dict[str, Any]:
    definitions: dict[str, Any] = _read(SCHEMA, "@octokit/webhooks-schemas")["definitions"]
    return definitions


def definition(event: str, payload: dict[str, Any]) -> str:
    """The schema's name for a delivery: `pull_request$opened`, `push$event`."""
    return f"{event}$event" if event in _WITHOUT_ACTION else f"{event}${payload.get('action')}"


@functools.cache
def _validator(name: str) -> jsonschema.Draft7Validator:
    if name not in _definitions():
        raise KeyError(f"@octokit/webhooks-schemas has no schema {name!r}")
    return jsonschema.Draft7Validator({"$ref": f"#/definitions/{name}", "definitions": _definitions()})


def _leaves(errors: Any) -> list[jsonschema.ValidationError]:
    """The failures themselves: of a `null`-or-X choice, X's; of other choices, the closest branch's."""
    found = []
    for error in errors:
        if not error.context:
            found.append(error)
            continue
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for failure in error.context:
            branches.setdefault(failure.relative_schema_path[0], []).append(failure)
        tried = [
            failures
            for failures in branches.values()
            if not (len(failures) == 1 and failures[0].validator == "type" and failures[0].validator_value == "null")
        ]
        found += _leaves(min(tried, key=len)) if tried else [error]
    return found


def problems(event: str, payload: dict[str, Any]) -> list[str]:
    """What `@octokit/webhooks-schemas` refuses of one delivery's payload (empty: it agrees)."""
    errors = _leaves(_validator(definition(event, payload)).iter_errors(payload))
    return sorted(f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:200]}" for error in errors)


def examples(events: tuple[str, ...]) -> list[tuple[str, int, dict[str, Any]]]:
    """`@octokit/webhooks-examples`' payloads of these events: (event, its index among the event's, payload)."""
    published = _read(EXAMPLES, "@octokit/webhooks-examples")
    return [
        (entry["name"], index, example)
        for entry in published
        if entry["name"] in events
        for index, example in enumerate(entry["examples"])
    ]
