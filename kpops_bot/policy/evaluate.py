"""Evaluating a policy set: a child process per call, bounded in time and memory, whose answers become findings.

Why regopy (Microsoft's rego-cpp, 1.5.2): it evaluates Rego v1 in process from a wheel on the package index, with
no OPA binary to ship or download and no server to run; conftest's own engine (OPA, in Go) has no Python binding on
the index. How fast (bench/policy.py, 2 shared cores): the modules are compiled once per dry run into a bundle
(about 6 ms for the starter pack) and each input then costs 0.3 to 2.5 ms, where asking the interpreter directly
recompiles every time (about 50 ms per query); the child process and its import of regopy add 0.1 to 0.3 s per
dry run. For 20 pipelines of 5 manifests each, judging took 17-45 ms per pipeline against 115-225 ms to render it
(two runs on a shared machine: 15-20 %).
Known rego-cpp 1.5.2 limits (found writing the starter pack; no newer regopy on the index): `with input as ...`
over a rule that calls a built-in crashes the evaluator (`policy test` gives such a test its input instead:
`with_input.py`; a crash is an error, never a pass), a comprehension body cannot hold `some k, v in ...` (write
`some k` and index), `sprintf("%s", [x])` of a string a built-in returned (`upper`, a default of `object.get`)
quotes it without escaping, so the answer is not JSON (an error naming the files), and the older `deny[msg] { ... }`
form is read as a partial object, which `findings` maps back to messages.

Why a child: a policy is code from the repository; rego-cpp has no recursion bound of its own and a comprehension
over `numbers.range` grows without limit, so evaluation runs where it can be ended. The child gets no environment
(`opa.runtime()` shows the process environment, and the bot's holds its tokens), an empty working directory, a CPU
limit, and the parent ends its process group when it runs out of wall-clock time or its resident memory passes the
bound. The bound is watched, not set as RLIMIT_AS: rego-cpp's allocator (snmalloc) reserves address space at start
and aborts under any address-space or data limit. rego-cpp has no network or file built-ins (`http.send` is
undefined), so a policy sees only its input and its data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpops_bot.model.policy import EvaluatorCrashedError, Finding, Limits, PolicyError, PolicySet

_POLL_SECONDS = 0.02
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Evaluation:
    """One input document and the namespace whose rules judge it."""

    namespace: str
    input: dict[str, Any]


def evaluate(policies: PolicySet, evaluations: Sequence[Evaluation], limits: Limits) -> list[list[Finding]]:
    """The findings of each evaluation, in order. Raises PolicyError naming the file when a policy cannot be
    evaluated, and when the evaluation exceeds its limit."""
    queries = {namespace: policies.queries(namespace) for namespace in {e.namespace for e in evaluations}}
    wanted = [e for e in evaluations if queries[e.namespace]]
    if not wanted:
        return [[] for _ in evaluations]
    request = {
        "modules": [[module.path, module.text] for module in policies.modules],
        "data": policies.data,
        "inputs": [{"input": e.input, "queries": queries[e.namespace]} for e in wanted],
    }
    reply = _run_child(request, limits, policies)
    if "error" in reply:
        raise PolicyError(_error_text(reply["error"], policies))
    answers = iter(reply["answers"])
    results: list[list[Finding]] = []
    for evaluation in evaluations:
        names = queries[evaluation.namespace]
        row = next(answers) if names else []
        results.append([f for query, answer in zip(names, row, strict=True) for f in findings(query, answer)])
    return results


def run_queries(policies: PolicySet, queries: Sequence[str], limits: Limits) -> list[Any]:
    """The answers of `queries` with an empty input (the `test_` rules): None where undefined."""
    return run_inputs(policies, [({}, queries)], limits)[0]


def run_inputs(policies: PolicySet, asked: Sequence[tuple[Any, Sequence[str]]], limits: Limits) -> list[list[Any]]:
    """The answers of each (input, queries) pair, in one child: None where undefined."""
    request = {
        "modules": [[module.path, module.text] for module in policies.modules],
        "data": policies.data,
        "inputs": [{"input": document, "queries": list(queries)} for document, queries in asked],
    }
    reply = _run_child(request, limits, policies)
    if "error" in reply:
        raise PolicyError(_error_text(reply["error"], policies))
    return [[_value(answer) for answer in row] for row in reply["answers"]]


def findings(query: str, answer: Any) -> list[Finding]:
    """A rule's answer → findings. A set (Rego v1 `deny contains msg if`) is a list of messages; rego-cpp reads the
    older `deny[msg] { ... }` as a partial object mapping each message to true (an object message as its JSON)."""
    namespace, _, rule = query.removeprefix("data.").rpartition(".")
    value = _value(answer)
    if isinstance(value, dict) and value and all(item is True for item in value.values()):
        value = [_parsed_key(key) for key in value]
    if value is True:
        value = [f"{namespace}.{rule} is true"]
    if not isinstance(value, list):
        return []
    return [_finding(namespace, rule, item) for item in value]


def _value(answer: Any) -> Any:
    if not isinstance(answer, dict) or not answer.get("expressions"):
        return None
    return answer["expressions"][0]


def _parsed_key(key: str) -> Any:
    if key.startswith("{"):
        try:
            return json.loads(key)
        except ValueError:
            return key
    return key


def _finding(namespace: str, rule: str, item: Any) -> Finding:
    if isinstance(item, dict):
        details = {key: value for key, value in item.items() if key != "msg"}
        return Finding(namespace, rule, str(item.get("msg", json.dumps(item, sort_keys=True))), details)
    return Finding(namespace, rule, str(item))


def _error_text(error: dict[str, Any], policies: PolicySet) -> str:
    if error.get("file"):
        return f"{error['file']}:{error['line']}: {error['message']}"
    return f"{_files(policies)}: {error['message']}"


def _files(policies: PolicySet) -> str:
    return ", ".join(module.path for module in policies.modules) or policies.origin


def _run_child(request: dict[str, Any], limits: Limits, policies: PolicySet) -> dict[str, Any]:
    exceeded = PolicyError(
        f"policy evaluation exceeded its limit ({limits.seconds:g} s, {limits.memory_bytes >> 20} MiB) in "
        f"{_files(policies)}"
    )
    with tempfile.TemporaryDirectory(prefix="kpops-bot-policy-") as empty:
        process = subprocess.Popen(
            [sys.executable, "-m", "kpops_bot.policy.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=empty,
            env={"PYTHONPATH": str(Path(__file__).parents[2])},  # nothing of the bot's environment
            start_new_session=True,
        )
        try:
            cpu_seconds = max(1, int(limits.seconds) + 1)
            output = _watched(process, json.dumps({**request, "cpu_seconds": cpu_seconds}).encode(), limits)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if output is None:
        raise exceeded
    if process.returncode != 0 or not output:
        if process.returncode in (-signal.SIGKILL, -signal.SIGXCPU):
            raise exceeded
        raise EvaluatorCrashedError(
            f"{_files(policies)}: the policy evaluator crashed (exit code {process.returncode})"
        )
    reply: dict[str, Any] = json.loads(output)
    return reply


def _watched(process: subprocess.Popen[bytes], request: bytes, limits: Limits) -> bytes | None:
    """The child's answer; None when it ran out of time or memory (it is killed then)."""
    assert process.stdin is not None and process.stdout is not None
    with process.stdin:
        process.stdin.write(request)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(process.stdout.read() if process.stdout else b""))
    reader.start()
    deadline = time.monotonic() + limits.seconds
    while True:
        try:
            process.wait(timeout=_POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline or _resident(process.pid) > limits.memory_bytes:
                os.killpg(process.pid, signal.SIGKILL)
                reader.join()
                return None
    reader.join()
    return b"".join(chunks)


def _resident(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE
