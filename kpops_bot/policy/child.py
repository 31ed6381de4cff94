"""The body of one policy evaluation: a child process the parent bounds (`evaluate`), started with no environment.

It reads the modules, the data and the inputs as JSON on stdin, loads the modules into one regopy interpreter, asks
each query for each input and writes the raw answers (or the first error, located in its module) as JSON on stdout.
Nothing here decides what an answer means; `evaluate` does.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
from typing import Any, TextIO

from regopy import Bundle, Interpreter, Node, RegoError
from regopy.rego_shared import (
    rego_bundle_query_entrypoint,
    rego_free_output,
    rego_output_node,
    rego_output_ok,
    rego_output_string,
)

_LOCATION = re.compile(r"(\d+):")
_NOT_JSON = "the evaluator's answer is not valid JSON (a string with an unescaped quote?)"


def main() -> int:
    # rego-cpp prints its own error reports on stdout: the answer goes out on the original stdout, the rest to stderr.
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    request = json.load(sys.stdin)
    _bound(int(request["cpu_seconds"]))
    texts: dict[str, str] = dict(request["modules"])
    rego = Interpreter()
    rego.strict_built_in_errors = True  # a built-in's error fails the evaluation instead of reading as undefined
    try:
        for path, text in texts.items():
            rego.add_module(path, text)
        if request["data"]:
            rego.add_data_json(json.dumps(request["data"]))
    except RegoError as error:
        return _fail(answer, str(error), texts)
    # Compiled once into a bundle: asking the interpreter compiles the modules again for every query (about 50 ms for
    # the starter pack), asking the bundle's entry points costs well under a millisecond.
    queries = sorted({query for evaluation in request["inputs"] for query in evaluation["queries"]})
    if not queries:
        json.dump({"answers": [[] for _ in request["inputs"]]}, answer)
        answer.flush()
        return 0
    bundle = rego.build(None, [_entrypoint(query) for query in queries])
    if not bundle.ok():
        return _fail(answer, _errors(bundle.node()), texts)
    answers: list[list[Any]] = []
    for evaluation in request["inputs"]:
        rego.set_input_term(json.dumps(evaluation["input"]))
        row: list[Any] = []
        for query in evaluation["queries"]:
            ok, text = _ask(rego, bundle, _entrypoint(query))
            if not ok or text.startswith("(error"):
                return _fail(answer, text, texts)
            try:
                row.append(None if text == "undefined" else json.loads(text))
            except ValueError:  # rego-cpp 1.5.2 leaves quotes unescaped in some strings (sprintf of a default)
                return _fail(answer, f"(errormsg {len(_NOT_JSON)}:{_NOT_JSON})", texts)
        answers.append(row)
    json.dump({"answers": answers}, answer)
    answer.flush()
    return 0


def _bound(cpu_seconds: int) -> None:
    """Before any policy is read: no CPU beyond the bound, no file written, no core dumped. (Memory is watched by
    the parent: rego-cpp's allocator aborts under an address-space limit.)"""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _entrypoint(query: str) -> str:
    """`data.main.deny` → `main/deny`, as rego-cpp names a bundle's entry points."""
    return query.removeprefix("data.").replace(".", "/")


def _ask(rego: Interpreter, bundle: Bundle, entrypoint: str) -> tuple[bool, str]:
    """Whether the entry point's query succeeded, and its JSON answer or rego-cpp's error tree.

    regopy's own query methods cannot return an error that rego-cpp reports as a successful output (a built-in's
    error under strict errors): they parse the text as JSON. So this reads the output through regopy's C API.
    """
    impl = rego_bundle_query_entrypoint(rego._impl, bundle._impl, entrypoint)
    try:
        if rego_output_ok(impl):
            return True, str(rego_output_string(impl))
        return False, _errors(Node(rego_output_node(impl)))
    finally:
        rego_free_output(impl)


def _errors(node: Node) -> str:
    return "".join(str(node.at(index).json()) for index in range(len(node)))


def _fail(answer: TextIO, sexpr: str, texts: dict[str, str]) -> int:
    json.dump({"error": describe(sexpr, texts)}, answer)
    answer.flush()
    return 0


def describe(sexpr: str, texts: dict[str, str]) -> dict[str, Any]:
    """rego-cpp's error tree (`(error 8:bad.rego|34|2 (errormsg 16:this is unclosed) ...)`) → file, line, message."""
    message = _sized_after(sexpr, "(errormsg ") or "the policy could not be evaluated"
    for match in _LOCATION.finditer(sexpr):
        size = int(match.group(1))
        name = sexpr[match.end() : match.end() + size]
        rest = sexpr[match.end() + size :]
        offset = re.match(r"\|(\d+)\|", rest)
        if name in texts and offset:
            line = texts[name].count("\n", 0, int(offset.group(1))) + 1
            return {"file": name, "line": line, "message": message}
    return {"file": None, "line": None, "message": message}


def _sized_after(text: str, marker: str) -> str | None:
    """The length-prefixed string (`16:this is unclosed`) after `marker`."""
    start = text.find(marker)
    if start < 0:
        return None
    head = _LOCATION.match(text, start + len(marker))
    if head is None:
        return None
    return text[head.end() : head.end() + int(head.group(1))]


if __name__ == "__main__":
    sys.exit(main())
