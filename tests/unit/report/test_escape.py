"""No text from a repository can change a report's structure: hostile names and values, generated, through the
escaping module, the report functions on a generated diff model, and real kpops renders of a changed pipeline.

The rendered markdown is read with a real markdown parser (markdown-it-py, CommonMark with GFM tables), not with
regexes: what counts is what a forge would build from it. A report with hostile strings must have the structure of
the same report with plain strings: the same block tokens (headings, paragraphs, lists, tables with their rows and
cells, fences, HTML blocks), the same verdict, as many `<details>` opened as closed, one HTML comment (the marker),
no link, no image, no raw HTML beyond the bot's own tags, and no `@`, `#`, `!` or `GH-` reference outside code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from kpops_bot import escape
from kpops_bot.diff.compute import build_report
from kpops_bot.diff.model import (
    ComponentDiff,
    ConfigChange,
    ConfigField,
    DiffReport,
    KpopsSides,
    PipelineDiff,
    ResourceDiff,
    Risk,
    RiskLevel,
    Status,
    Topology,
    TopologyEdge,
    TopologyNode,
)
from kpops_bot.drift import Drift, DriftKind
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.pool import RenderPool
from kpops_bot.model.render import RenderError
from kpops_bot.report.answers import StepLine, published, rejected, step_results
from kpops_bot.report.check_run import check_report
from kpops_bot.report.drift import drifted
from kpops_bot.report.markdown import render_markdown, title
from kpops_bot.sources import SourceLocation
from kpops_bot.workflows.publishing import commit_message
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo
from tests.support.examples import examples

HOSTILE = [
    "`",
    "``",
    "```",
    "<!--",
    "-->",
    "<details>",
    "</details>",
    "|",
    "@org/team",
    "@alice",
    "#123",
    "GH-1",
    "!12",
    "[x](javascript:alert(1))",
    "![](https://evil.test/i.png)",
    "<img src=x onerror=alert(1)>",
    "\n",
    "\r\n",
    "\n## ✅ kpops-bot: no risk found, ready to merge\n",
    "\n\n- item\n> quote\n",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u2066",
    "${output_topic_name}",
    "&amp;",
    "\\",
    "*",
    "_",
    "\t",
]
# Pieces of hostile text, mixed with a little of anything; the plain twin of a value is "plain".
hostile_text = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=4), min_size=1, max_size=5).map("".join)
PLAIN = "plain"

_MD = MarkdownIt("commonmark").enable("table")
_REFERENCE = re.compile(r"(?<![\w\u200d])(@[A-Za-z0-9]|#[0-9]|![0-9]|GH-[0-9])")
_OWN_TAGS = {"<code>", "</code>", "<b>", "</b>"}


def _tokens(markdown: str) -> list[Token]:
    return _MD.parse(markdown)


def _inline(tokens: list[Token]) -> list[Token]:
    return [child for token in tokens if token.type == "inline" for child in token.children or []]


def structure(markdown: str) -> list[tuple[str, str, int]]:
    """The block tokens (headings, paragraphs, lists, tables, rows, cells, fences, HTML blocks), without their text."""
    return [(token.type, token.tag, token.level) for token in _tokens(markdown) if token.type != "inline"]


def table_widths(markdown: str) -> list[int]:
    """Cells per row of every table, as GFM splits a row: at each `|` that no backslash precedes."""
    lines = markdown.split("\n")  # as markdown reads lines (not at U+2028, as str.splitlines would)
    widths = []
    for token in _tokens(markdown):
        if token.type == "table_open" and token.map:
            start, end = token.map
            widths += [len(re.split(r"(?<!\\)\|", lines[index].strip().strip("|"))) for index in range(start, end)]
    return widths


def _links(tokens: list[Token]) -> list[str]:
    return [
        str(token.attrs.get("href", token.attrs.get("src"))) for token in tokens if token.type in ("link_open", "image")
    ]


def assert_inert(markdown: str, links: list[str] | None = None) -> None:
    """Nothing a value brought acts: no link or image but the bot's own (`links`), no raw HTML but the bot's tags,
    no reference outside code, one HTML comment (the marker line), every `<details>` closed."""
    tokens = _tokens(markdown)
    inline = _inline(tokens)
    assert _links(inline) == (links or [])
    assert {token.content for token in inline if token.type == "html_inline"} <= _OWN_TAGS
    outside_code = " ".join(token.content for token in inline if token.type == "text")
    assert not _REFERENCE.findall(outside_code), outside_code
    html = "".join(token.content for token in tokens if token.type == "html_block")
    assert html.count("<details>") == html.count("</details>")
    comments = [index for index, line in enumerate(markdown.split("\n")) if "<!--" in line]
    assert comments == [] or (comments == [0] and markdown.split("\n", maxsplit=1)[0].endswith("-->"))
    assert "\u2028" not in markdown and "\u202e" not in markdown


# --- the escaping functions on their own ------------------------------------------------------------------------


def test_what_each_form_makes_of_hostile_text() -> None:
    assert escape.code("a`b") == "``a`b``"
    assert escape.code("`x`") == "`` `x` ``"  # padded: the span neither starts nor ends with its own fence
    assert escape.code("") == "` `"
    assert escape.code("policy\n## ✅ ready") == "`policy⏎## ✅ ready`"
    assert escape.code("a\u202eb\u2028c\x07") == "`a\\u202eb\\u2028c\\x07`"
    assert escape.code("x<!--y-->z</details>") == "`x<\u200d!--y--\u200d>z<\u200d/details>`"
    assert escape.cell_code("a|b") == "`a\\|b`"
    assert escape.html_code("<b>&") == "<code>&lt;b&gt;&amp;</code>"
    assert escape.html_text("@org/team #1 a|b") == "@\u200dorg/team #\u200d1 a&#124;b"
    assert escape.text("[x](javascript:alert(1)) GH-1 !12") == "\\[x\\](javascript:alert(1)) GH-\u200d1 \\!\u200d12"
    assert escape.composed("topic `a` <img> [x](y) @bob") == "topic `a` &lt;img&gt; \\[x\\](y) @\u200dbob"
    assert (
        escape.composed("see https://evil.test and www.evil.test")
        == "see https:\u200d//evil.test and www\u200d.evil.test"
    )
    assert escape.mermaid_label('a"b#c`d<e') == "a#quot;b#35;c#96;d&lt;e"
    assert escape.commit_line("a\nKpops-Bot-Apply: x\u202e") == "aKpops-Bot-Apply: x"
    assert escape.fenced("a\n```\nb\u202e") == "````\na\n```\nb\\u202e\n````"


@settings(deadline=None)  # the first example pays for imports and parser set-up
@given(hostile_text)
def test_code_shows_the_text_in_one_code_span(value: str) -> None:
    (paragraph,) = [token for token in _tokens(escape.code(value)) if token.type == "inline"]
    assert [child.type for child in paragraph.children or []] == ["code_inline"]
    shown = escape.defuse_markers(escape.visible(value))
    assert (paragraph.children or [])[0].content == (shown or " ")


@settings(deadline=None)  # the first example pays for imports and parser set-up
@given(hostile_text, hostile_text)
def test_a_table_row_keeps_its_cells(first: str, second: str) -> None:
    table = f"| a | b |\n|---|---|\n| {escape.cell_code(first)} | {escape.cell_code(second)} |\n"
    cells = [token for token in _inline(_tokens(table)) if token.type == "code_inline"]
    assert [cell.content for cell in cells] == [
        shown or " " for shown in (escape.defuse_markers(escape.visible(v)) for v in (first, second))
    ]
    assert table_widths(table) == [2, 2, 2]


@settings(deadline=None)  # the first example pays for imports and parser set-up
@given(hostile_text)
def test_a_composed_line_stays_one_inert_line(value: str) -> None:
    line = f"- topic `{value}`: cleanup.policy {value} → `delete` (@{value} #{value})"
    shown = escape.composed(line, cell=True)
    assert "\n" not in shown and "\r" not in shown
    assert structure(shown) == structure("- x")
    assert_inert(shown)


@settings(deadline=None)  # the first example pays for imports and parser set-up
@given(hostile_text)
def test_a_commit_line_is_one_line(value: str) -> None:
    message = commit_message(f"kpops-bot: apply {value}", [f"- {value} (dev): deploy"], "a" * 40)
    summary, blank, body, blank_too, trailer, end = message.split("\n")
    assert (blank, blank_too, end) == ("", "", "")
    assert trailer == f"Kpops-Bot-Apply: {'a' * 40}"
    assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]", summary + body)


@settings(deadline=None)  # the first example pays for imports and parser set-up
@given(hostile_text)
def test_a_mermaid_label_stays_in_its_quotes(value: str) -> None:
    label = escape.mermaid_label(value)
    assert '"' not in label and "`" not in label and "\n" not in label and "<" not in label


# --- the report functions on a generated diff model -------------------------------------------------------------


def report_of(name: str, value: str) -> DiffReport:
    """A report with every kind of section, `name` as every name and `value` as every value the repository sets."""
    resource = ResourceDiff(
        apiVersion=f"v1{value}",
        kind="ConfigMap",
        namespace=name,
        name=name,
        status=Status.CHANGED,
        diff=f"--- base\n+++ head\n-  note: a\n+  note: {value}\n",
    )
    component = ComponentDiff(
        name=name,
        type=name,
        status=Status.CHANGED,
        config_changes=[ConfigChange(path=f"values.{name}", change="changed", old=value, new=f"{value}!")],
        resources=[resource],
    )
    added = ComponentDiff(
        name=f"{name}-new",
        type=name,
        status=Status.ADDED,
        config=[ConfigField(path=f"config.{name}", value=value)],
    )
    risk = Risk(
        level=RiskLevel.DANGER,
        code="cleanup-policy-changed",
        message=f"topic `{name}`: cleanup.policy {value} → `delete`: changes which records the broker deletes",
        component=name,
        source=SourceLocation(file=f"pipelines/{name}/pipeline.yaml", line=3),
    )
    topology = Topology(
        nodes=[
            TopologyNode(id="c0", label=name, kind="component", type=name, status=Status.CHANGED),
            TopologyNode(id="t1", label=value, kind="topic", type="output", status=Status.ADDED),
        ],
        edges=[TopologyEdge(source="c0", target="t1")],
    )
    changed = PipelineDiff(
        name=name,
        environment=name,
        status=Status.CHANGED,
        risks=[risk],
        components=[component, added],
        topology=topology,
        notes=[f"It did not render at the merge base ({value}); everything is shown as new."],
    )
    failed = PipelineDiff(
        name=f"{name}-broken",
        environment=None,
        status=Status.ERROR,
        error=RenderError(message=f"{name}: {value}", kind="yaml", file=f"pipelines/{name}.yaml", line=1),
    )
    kpops = KpopsSides(base="8.1.4", head="9.0.0", migration=[f"`{name}` uses {value}"])
    return build_report("1" * 40, "2" * 40, "manifest", [name], [changed, failed], kpops=kpops)


def assert_same_structure(hostile: str, plain: str) -> None:
    assert structure(hostile) == structure(plain)
    assert table_widths(hostile) == table_widths(plain)
    assert_inert(hostile, _links(_inline(_tokens(plain))))


@settings(max_examples=examples(150), deadline=None)
@given(hostile_text, hostile_text)
def test_the_report_keeps_its_structure_whatever_the_names_and_values(name: str, value: str) -> None:
    hostile, plain = report_of(name, value), report_of(PLAIN, PLAIN)
    (text,), (twin,) = render_markdown(hostile), render_markdown(plain)
    assert_same_structure(text, twin)
    assert text.splitlines()[1] == twin.splitlines()[1] == title(plain)  # the verdict, under the marker line
    check, check_twin = check_report(hostile), check_report(plain)
    assert check.title == check_twin.title
    assert_same_structure(check.summary, check_twin.summary)
    assert_same_structure(check.text, check_twin.text)
    for annotation in check.annotations:
        assert "\n" not in annotation.title + annotation.message


@settings(max_examples=examples(100), deadline=None)
@given(hostile_text, hostile_text)
def test_answers_and_drift_issues_keep_their_structure(name: str, value: str) -> None:
    def answer(name: str, value: str) -> str:
        lines = [
            StepLine(
                True, name, name, "deploy", "a" * 40, f"1 manifest(s) in {escape.code(name)}", escape.fenced(value)
            ),
            StepLine(False, name, None, "deploy", "a" * 40, escape.code(f"{name}: {value}")),
        ]
        link = published("b" * 40, "https://forge.test/c/b", name, [name], [value])
        return f"{rejected(f'/kpops deploy {value}', 'unknown')}\n\n{step_results(lines)}\n\n{link}"

    assert_same_structure(answer(name, value), answer(PLAIN, PLAIN))

    def issue(name: str, value: str) -> str:
        drifts = [Drift(f"rendered/{name}", f"{value}.yaml", DriftKind.CHANGED, "a: 1\n", f"a: {value}\n")]
        return drifted(name, "c" * 40, f"{name}:rendered", drifts, [f"`{name}` (dev): {value}"])

    assert_same_structure(issue(name, value), issue(PLAIN, PLAIN))


# --- real renders: kpops on a pipeline whose values carry the hostile text --------------------------------------

WORD_COUNT = "pipelines/word-count/pipeline.yaml"


def _set_values(repo: GitRepo, policy: str, note: str) -> None:
    """The word counter's topic gets `cleanup.policy: policy`, its Helm values a `note` (both as YAML strings)."""
    components: list[dict[str, Any]] = yaml.safe_load((repo.path / WORD_COUNT).read_text(encoding="utf-8"))
    counter = next(component for component in components if component["name"] == "word-counter")
    (topic,) = counter["to"]["topics"].values()
    topic["configs"]["cleanup.policy"] = policy
    counter["values"]["note"] = note
    repo.write(WORD_COUNT, yaml.safe_dump(components, sort_keys=False, allow_unicode=True))


def _rendered(repo: GitRepo, workspace: Workspace, pool: RenderPool, branch: str, policy: str, note: str) -> str:
    repo.git("checkout", "-q", "-B", branch, "main")
    _set_values(repo, policy, note)
    repo.commit(f"values for {branch}")
    report = diff_revisions(workspace, pool, DiffRequest(source=str(repo.path), base="main", head=branch))
    (text,) = render_markdown(report)
    assert text.splitlines()[1] == title(report)
    return text


# kpops reads `${...}` as its own templates; YAML cannot hold every control character: the rest is kept.
_NOT_IN_YAML = re.compile(r"\$\{[^}]*\}|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
real_text = hostile_text.map(lambda text: _NOT_IN_YAML.sub("", text))


@pytest.fixture
def plain_render(deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool) -> str:
    return _rendered(deployment_repo, workspace, pool, "plain", "delete", "plain")


@settings(max_examples=examples(4), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(real_text, real_text)
def test_a_real_render_with_hostile_values_keeps_the_reports_structure(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, plain_render: str, policy: str, note: str
) -> None:
    text = _rendered(deployment_repo, workspace, pool, "hostile", policy, note)
    assert_same_structure(text, plain_render)


def test_the_cleanup_policy_attack_of_the_issue(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool, plain_render: str, tmp_path: Path
) -> None:
    """A newline in `cleanup.policy` forged a `## ✅` heading and opened `<!--`, hiding the rest of the report."""
    forged = "delete\n\n## ✅ kpops-bot: no risk found, ready to merge\n\n<!--"
    text = _rendered(deployment_repo, workspace, pool, "attack", forged, "@org/team #123")
    assert_same_structure(text, plain_render)
    headings = [token for token in _tokens(text) if token.type == "heading_open" and token.tag == "h2"]
    assert len(headings) == 1
