"""GitHub as GitHub specifies it: every exchange with the fake GitHub checked against GitHub's published OpenAPI
description (`@octokit/openapi`, api.github.com), so the fake cannot drift into a GitHub of its own.

`scripts/setup dev` installs the package into `.tools/` (version below). The recorder sits in front of the fake's
ASGI app and keeps each REST exchange; `problems()` names every one that GitHub's description does not allow: an
operation it lacks, a URL parameter it does not take or a value it refuses, a request body its schema refuses, a
status it does not document, a JSON answer (refusals included) its response schema refuses, with the formats
`date-time`, `uri` and `email` checked. Answers the tests inject as faults (5xx, 429) and git's smart HTTP are not
REST and are skipped. A validator is compiled once per schema and a body judged once.
"""

from __future__ import annotations

import collections
import datetime
import functools
import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

ROOT = Path(__file__).resolve().parents[1]
OCTOKIT_OPENAPI_VERSION = "23.0.2"
OCTOKIT_WEBHOOKS_VERSION = "7.6.1"  # @octokit/webhooks-schemas and -examples (testbed/github_webhooks.py)
SPEC = ROOT / ".tools" / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
_SPEC_URI = "urn:github-openapi"


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the Enterprise prefix
    request: Any  # the JSON body, None without one
    status: int
    response: Any
    query: tuple[tuple[str, str], ...] = ()  # the URL's parameters, in order


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


# Errors of the description itself, corrected where they stand (the rest of the schema is still checked): a JSON
# pointer into the description, the keyword there that is wrong, the right one, and why GitHub's own word shows it.
ERRATA: tuple[tuple[str, str, str, str], ...] = (
    (
        "/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items/properties/account",
        "allOf",
        "anyOf",
        "The listing's inline copy of `installation` wants an `account` that is a user AND an enterprise at once; "
        "the `installation` schema (the same object, GET /repos/{owner}/{repo}/installation) says one of them, and "
        "this operation's own example (`base-installation-items`) is a user alone.",
    ),
)


@functools.cache
def _spec() -> dict[str, Any]:
    if not SPEC.is_file():
        raise FileNotFoundError(
            f"{SPEC} is missing: scripts/setup dev installs @octokit/openapi {OCTOKIT_OPENAPI_VERSION}"
        )
    raw = json.loads(SPEC.read_text(encoding="utf-8"))
    for pointer, wrong, right, _why in ERRATA:
        parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
        node = functools.reduce(lambda node, part: node[part], parts, raw)
        node[right] = node.pop(wrong)
    loaded: dict[str, Any] = _nullable(raw)
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


_FORMATS = jsonschema.FormatChecker(formats=())
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]+")


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339: a date, `T`, a time and an offset (`Z` or `±hh:mm`)."""
    if not isinstance(value, str):
        return True
    stamp = datetime.datetime.fromisoformat(value)
    return "T" in value and stamp.tzinfo is not None


@_FORMATS.checks("uri")
def _uri(value: object) -> bool:
    """RFC 3986's characters after a scheme: no spaces, no `{}` of a URL template, no `[]` outside a host."""
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


@_FORMATS.checks("email")
def _email(value: object) -> bool:
    return not isinstance(value, str) or re.fullmatch(r"[^@\s]+@[^@\s]+", value) is not None


@functools.cache
def _validator(pointer: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(
        {"$ref": f"{_SPEC_URI}#/{pointer}"}, registry=_registry(), format_checker=_FORMATS
    )


def _schema_problems(value: Any, pointer: str) -> list[str]:
    return list(_judged(pointer, json.dumps(value, sort_keys=True)))


@functools.lru_cache(maxsize=4096)
def _judged(pointer: str, text: str) -> tuple[str, ...]:
    """A body is judged once: a client that polls gets the same answer many times."""
    return tuple(
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:300]}"
        for error in _validator(pointer).iter_errors(json.loads(text))
    )


def _response_schema(base: tuple[str, ...], key: str) -> str | None:
    """The pointer to the JSON schema of one documented answer, through a shared `components/responses` entry."""
    response = _spec()
    for part in (*base, "responses", key):
        response = response[part]
    where: tuple[str, ...] = (*base, "responses", key)
    if "$ref" in response:
        where = tuple(response["$ref"].removeprefix("#/").split("/"))
        response = functools.reduce(lambda node, part: node[part], where, _spec())
    if "schema" not in response.get("content", {}).get("application/json", {}):
        return None
    return _pointer(*where, "content", "application/json", "schema")


def _parameter(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in node:
        return node
    found: dict[str, Any] = functools.reduce(lambda at, part: at[part], node["$ref"][2:].split("/"), _spec())
    return found


def _query_problems(operation: _Operation, query: tuple[tuple[str, str], ...]) -> list[str]:
    """A URL parameter the operation does not take, or a value its schema refuses (numbers and booleans as text)."""
    taken = {
        parameter["name"]: parameter.get("schema", {})
        for parameter in map(_parameter, operation.definition.get("parameters", []))
        if parameter.get("in") == "query"
    }
    said = []
    for name, text in query:
        if name not in taken:
            said.append(f"query parameter {name!r} is not one of the operation's ({', '.join(sorted(taken))})")
            continue
        schema = taken[name]
        value: Any = text
        if schema.get("type") == "integer":
            value = int(text) if text.lstrip("-").isdigit() else text
        elif schema.get("type") == "boolean":
            value = {"true": True, "false": False}.get(text, text)
        errors = jsonschema.Draft4Validator(schema, format_checker=_FORMATS).iter_errors(value)
        said += [f"query parameter {name}: {error.message[:200]}" for error in errors]
    return said


def problems(exchange: Exchange) -> list[str]:
    """What GitHub's description does not allow of one exchange (empty: it agrees)."""
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
    said = [f"{where}: {problem}" for problem in _query_problems(operation, exchange.query)]
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
    answer = _response_schema(base, key)
    if answer is not None and exchange.response is not None:
        said += [f"{where}: response {problem}" for problem in _schema_problems(exchange.response, answer)]
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
            Exchange(
                scope["method"],
                scope["path"].removeprefix(self.prefix),
                _json(request),
                status,
                _json(response),
                tuple(urllib.parse.parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)),
            )
        )

    def problems(self) -> list[str]:
        return [problem for exchange in self.exchanges for problem in problems(exchange)]


def _json(body: bytes | bytearray) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def grouped(found: list[str]) -> list[str]:
    """The findings by cause: numbers in paths and in schema locations folded, each cause once with its count."""
    causes = collections.Counter(re.sub(r"(?<=/)(?:[0-9a-f]{40}|\d+)(?=[/ :])", "*", line) for line in found)
    return [f"{count} x {cause}" for cause, count in sorted(causes.items())]


def check(recorder: Recorder) -> None:
    """Fails the test in which the bot asked GitHub for an operation GitHub does not have or sent a body it
    refuses, or the fake answered with a status or a body GitHub does not give."""
    found = recorder.problems()
    assert not found, "GitHub's OpenAPI description disagrees:\n" + "\n".join(grouped(found))
