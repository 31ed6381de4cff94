"""GitHub as GitHub specifies it: every exchange with the fake GitHub checked against GitHub's published OpenAPI
description (`@octokit/openapi`, api.github.com), so the fake cannot drift into a GitHub of its own.

`scripts/setup dev` installs the package into `.tools/` (version below). The recorder sits in front of the fake's
ASGI app and keeps each REST exchange; `problems()` names every one that GitHub's description does not allow: an
operation it lacks, a request body its schema refuses, a status it does not document, a JSON answer its response
schema refuses. Answers the tests inject as faults (5xx, 429) and git's smart HTTP are not REST and are skipped.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

ROOT = Path(__file__).resolve().parents[1]
OCTOKIT_OPENAPI_VERSION = "23.0.2"
SPEC = ROOT / ".tools" / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
_SPEC_URI = "urn:github-openapi"


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the Enterprise prefix
    request: Any  # the JSON body, None without one
    status: int
    response: Any


@dataclass(frozen=True)
class _Operation:
    template: str
    pattern: re.Pattern[str]
    method: str
    definition: dict[str, Any]


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it, everywhere in the description."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _spec() -> dict[str, Any]:
    if not SPEC.is_file():
        raise FileNotFoundError(
            f"{SPEC} is missing: scripts/setup dev installs @octokit/openapi {OCTOKIT_OPENAPI_VERSION}"
        )
    loaded: dict[str, Any] = _nullable(json.loads(SPEC.read_text(encoding="utf-8")))
    return loaded


@functools.cache
def _operations() -> list[_Operation]:
    operations = []
    for template, item in _spec()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        for method, definition in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                operations.append(_Operation(template, pattern, method.upper(), definition))
    # A literal segment wins over a parameter (`/issues/comments/{id}` over `/issues/{number}/...`).
    return sorted(operations, key=lambda operation: operation.template.count("{"))


@functools.cache
def _registry() -> referencing.Registry[Any]:
    resource = referencing.Resource.from_contents(_spec(), default_specification=referencing.jsonschema.DRAFT4)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(_SPEC_URI, resource)
    return registry


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _schema_problems(value: Any, pointer: str) -> list[str]:
    validator = jsonschema.Draft4Validator({"$ref": f"{_SPEC_URI}#/{pointer}"}, registry=_registry())
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:300]}"
        for error in validator.iter_errors(value)
    ]


def problems(exchange: Exchange, *, responses: bool = True) -> list[str]:
    """What GitHub's description does not allow of one exchange (empty: it agrees). `responses=False` leaves the
    answers' bodies out: the fake's objects carry the fields the bot reads, not yet every field GitHub requires."""
    where = f"{exchange.method} {exchange.path} → {exchange.status}"
    found = [
        operation
        for operation in _operations()
        if operation.method == exchange.method and operation.pattern.match(exchange.path)
    ]
    if not found:
        return [f"{where}: GitHub has no such operation"]
    operation = found[0]
    base = ("paths", operation.template, operation.method.lower())
    said: list[str] = []
    body = operation.definition.get("requestBody", {}).get("content", {}).get("application/json")
    if exchange.request is not None and body is not None and "schema" in body:
        pointer = _pointer(*base, "requestBody", "content", "application/json", "schema")
        said += [f"{where}: request {problem}" for problem in _schema_problems(exchange.request, pointer)]
    documented = operation.definition.get("responses", {})
    key = str(exchange.status) if str(exchange.status) in documented else "default"
    if key not in documented:
        if exchange.status < 400:  # GitHub documents its successes; a refusal (401, 404...) may come anywhere
            said.append(f"{where}: status not documented (documented: {', '.join(documented)})")
        return said
    content = documented[key].get("content", {}).get("application/json")
    if responses and content is not None and "schema" in content and exchange.response is not None:
        pointer = _pointer(*base, "responses", key, "content", "application/json", "schema")
        said += [f"{where}: response {problem}" for problem in _schema_problems(exchange.response, pointer)]
    return said


class Recorder:
    """ASGI middleware before the fake GitHub that keeps every REST exchange (not git's, not injected faults)."""

    def __init__(self, app: Any, prefix: str = "") -> None:
        self.app = app
        self.prefix = prefix
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or ".git/" in scope["path"]:
            await self.app(scope, receive, send)
            return
        request = bytearray()
        response = bytearray()
        status = 0

        async def receiving() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                request.extend(message.get("body", b""))
            return message

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                response.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receiving, sending)
        if status >= 500 or status == 429:
            return
        self.exchanges.append(
            Exchange(scope["method"], scope["path"].removeprefix(self.prefix), _json(request), status, _json(response))
        )

    def problems(self, *, responses: bool = True) -> list[str]:
        return [problem for exchange in self.exchanges for problem in problems(exchange, responses=responses)]


def _json(body: bytes | bytearray) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def check(recorder: Recorder) -> None:
    """Fails the test in which the bot asked GitHub for an operation GitHub does not have, sent a body it refuses,
    or the fake answered a success GitHub does not give. The answers' bodies are checked with
    `OPENAPI_CHECK_RESPONSES=1` (the fake's objects are not complete yet; `OPENAPI_CHECK_LOG=FILE` collects
    the findings instead of failing)."""
    found = recorder.problems(responses=os.environ.get("OPENAPI_CHECK_RESPONSES") == "1")
    log = os.environ.get("OPENAPI_CHECK_LOG")
    if found and log:
        with Path(log).open("a", encoding="utf-8") as out:
            out.write("\n".join(found) + "\n")
        return
    assert not found, "GitHub's OpenAPI description disagrees:\n" + "\n".join(found)
