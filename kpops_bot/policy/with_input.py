"""conftest's tests with `with input as`, evaluated without rego-cpp's `with`. Pure: module texts in, texts out.

regopy 1.5.2 (the newest on the package index) crashes evaluating `deny with input as {...}` when the rule calls a
built-in (`sprintf`, `endswith`, ...): almost every real policy. A conftest test means by it: the test's rule sees
that document as its input. So `policy test` asks it that way instead (`verify`): in a test whose `with input as`
clauses all name one term, the clauses are blanked out (spaces in their place: every line and column stays where
its author wrote it, so an error points at their text), and a rule `__kpops_input_<test> := <term>` is added at the
end of the module, its body the test's statements before the first clause (they may bind the term's variables).
That rule is asked first, with an empty input; the test is then asked with its answer as the input.

A test whose clauses name different terms is left as written (rego-cpp evaluates it, or crashes: an error naming
the file, never a pass); so are `with data... as` clauses, which rego-cpp evaluates. The reading is lexical (strings,
raw strings and comments skipped, brackets counted), not a Rego parser: a rule head must start its line, as `opa
fmt` writes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RULE_START = re.compile(r"^(?=[A-Za-z_])", re.MULTILINE)
_TEST_HEAD = re.compile(r"(test_[A-Za-z0-9_]*)\b")
_WITH_INPUT = re.compile(r"\bwith\s+input\s+as\s+")
_NEXT_WITH = re.compile(r"\s+with\b")
_OPENERS, _CLOSERS = "([{", ")]}"
HELPER_PREFIX = "__kpops_input_"


@dataclass(frozen=True)
class RewrittenTest:
    """A test asked with an input: its rule, and the rule that gives that input."""

    test: str  # the test rule's name
    helper: str  # the rule whose value is the test's input


def rewrite(text: str) -> tuple[str, list[RewrittenTest]]:
    """The module without its tests' `with input as` clauses, with a helper rule per rewritten test; the tests."""
    code = _code_mask(text)
    depth = _depths(text, code)
    blanked = list(text)
    helpers: list[str] = []
    rewritten: list[RewrittenTest] = []
    for start, end in _rules(text, code, depth):
        head = _TEST_HEAD.match(text, start)
        if head is None:
            continue
        found = _rewrite_test(text, code, depth, head.group(1), start, end, blanked)
        if found is not None:
            helper, rule = found
            helpers.append(rule)
            rewritten.append(RewrittenTest(head.group(1), helper))
    if not rewritten:
        return text, []
    return "".join(blanked).rstrip("\n") + "\n\n" + "\n\n".join(helpers) + "\n", rewritten


def _rewrite_test(
    text: str, code: list[bool], depth: list[int], name: str, start: int, end: int, blanked: list[str]
) -> tuple[str, str] | None:
    """Blanks the test's clauses in `blanked`; its helper's name and rule, or None when it is left as written."""
    body = next((i for i in range(start, end) if code[i] and text[i] == "{" and depth[i] == 0), None)
    if body is None:
        return None
    clauses = [
        (match.start(), match.end(), _term_end(text, code, match.end(), end))
        for match in _WITH_INPUT.finditer(text, body, end)
        if code[match.start()]
    ]
    terms = {text[term:stop].strip() for _, term, stop in clauses}
    if len(terms) != 1:
        return None
    for clause, _, stop in clauses:
        for index in range(clause, stop):
            if blanked[index] != "\n":
                blanked[index] = " "
    first = clauses[0][0]
    statement = max((i for i in range(body + 1, first) if code[i] and text[i] in "\n;" and depth[i] == 1), default=body)
    before = text[body + 1 : statement + 1 if statement > body else body + 1].strip()
    helper = f"{HELPER_PREFIX}{name}"
    (term,) = terms
    rule = f"{helper} := ({term}) if {{\n{before}\n}}" if before else f"{helper} := ({term})"
    return helper, rule


def _term_end(text: str, code: list[bool], start: int, limit: int) -> int:
    """Where the term after `as` ends: at its statement's end, a closing bracket, or the next `with`."""
    level = 0
    index = start
    while index < limit:
        char = text[index]
        if code[index]:
            if char in _OPENERS:
                level += 1
            elif char in _CLOSERS:
                if level == 0:
                    break
                level -= 1
            elif level == 0 and (char in "\n;" or _NEXT_WITH.match(text, index)):
                break
        elif level == 0 and char == "#":  # a comment after the term
            break
        index += 1
    return index


def _rules(text: str, code: list[bool], depth: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each top-level statement: a line that starts at depth 0 with a name, up to the next one."""
    starts = [m.start() for m in _RULE_START.finditer(text) if code[m.start()] and depth[m.start()] == 0]
    return list(zip(starts, [*starts[1:], len(text)], strict=True))


def _code_mask(text: str) -> list[bool]:
    """Per character: whether it is code (not inside a string, a raw string or a comment)."""
    mask = [True] * len(text)
    index = 0
    while index < len(text):
        char = text[index]
        if char == "#":
            stop = text.find("\n", index)
            stop = len(text) if stop < 0 else stop
        elif char == '"':
            stop = index + 1
            while stop < len(text) and text[stop] not in '"\n':
                stop += 2 if text[stop] == "\\" else 1
            stop = min(stop + 1, len(text))
        elif char == "`":
            found = text.find("`", index + 1)
            stop = len(text) if found < 0 else found + 1
        else:
            index += 1
            continue
        for inside in range(index, stop):
            mask[inside] = False
        index = stop
    return mask


def _depths(text: str, code: list[bool]) -> list[int]:
    """Per character: how many brackets are open before it (an opening bracket counts from the next character)."""
    depths: list[int] = []
    level = 0
    for char, is_code in zip(text, code, strict=True):
        if is_code and char in _CLOSERS:
            level = max(0, level - 1)
        depths.append(level)
        if is_code and char in _OPENERS:
            level += 1
    return depths
