"""The PR comment: golden files for its text, and the splitting rules checked on every part."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from markdown_it import MarkdownIt

from kpops_bot.commands.authorize import CommandPolicy
from kpops_bot.commands.catalog import CommandName, Role
from kpops_bot.diff.compute import DiffOptions, build_report, diff_pipeline
from kpops_bot.diff.model import DiffReport, RiskLevel
from kpops_bot.events.model import Forge
from kpops_bot.model.forge import COMMENT_LIMITS
from kpops_bot.model.render import PipelineRender
from kpops_bot.report.identity import MARKER
from kpops_bot.report.markdown import Footer, render_markdown
from kpops_bot.report.next_steps import next_commands
from tests.support.golden import GOLDEN, check_golden
from tests.support.renders import component, manifest, recorded_render
from tests.support.reports import BASE, HEAD, edited, mixed_report, reviewed_change, word_count_report

GITHUB_LIMIT, GITLAB_LIMIT = COMMENT_LIMITS[Forge.GITHUB], COMMENT_LIMITS[Forge.GITLAB]


def test_golden_word_count_change() -> None:
    parts = render_markdown(word_count_report())
    assert len(parts) == 1
    check_golden("word-count-change.md", parts[0])


def test_golden_errors_added_removed_and_unchanged_pipelines() -> None:
    parts = render_markdown(mixed_report())
    assert len(parts) == 1
    check_golden("mixed-change.md", parts[0])


def test_golden_no_pipeline_affected() -> None:
    parts = render_markdown(build_report(BASE, HEAD, "manifest", [None], []))
    check_golden("no-pipeline.md", parts[0])


def test_the_password_is_nowhere_but_its_change_is_shown() -> None:
    text = render_markdown(word_count_report())[0]
    assert "n3w-vault-password" not in text
    assert "changeme-in-vault" not in text
    assert "| `***` | `*** (changed)` |" in text


def test_errors_come_first_with_file_and_line() -> None:
    text = render_markdown(mixed_report())[0]
    summary, _, _ = text.partition("<details>")
    assert summary.index("team-a-orders") < summary.index("team-b-analytics-clickstream")
    assert "pipelines/team-a/orders/pipeline.yaml:7: invalid YAML" in summary


def big_report(pipelines: int, lines_per_resource: int = 40) -> DiffReport:
    def big(render: PipelineRender) -> None:
        reviewed_change(render)
        for kind, name in [("Deployment", "word-count-word-counter"), ("KafkaTopic", "word-count-word-counter-topic")]:
            notes = {f"note-{i}": f"value {i} " * 4 for i in range(lines_per_resource)}
            manifest(render, kind, name)["metadata"]["annotations"] = notes

    # One diff under many names: the report's size is what these tests need, and diffing the same renders again for
    # every pipeline was most of the unit lane's time (no risk of this change names its pipeline)
    diff = diff_pipeline("pipeline-000", None, recorded_render(), edited(big), DiffOptions())
    diffs = [diff.model_copy(update={"name": f"pipeline-{index:03d}"}, deep=True) for index in range(pipelines)]
    return build_report(BASE, HEAD, "manifest", [None], diffs)


def assert_well_formed(part: str) -> None:
    fences = re.findall(r"^(`{3,})", part, flags=re.MULTILINE)
    assert len(fences) % 2 == 0, "a code fence is cut"
    assert part.count("<details>") == part.count("</details>"), "a <details> block is cut"


def test_long_reports_split_into_well_formed_parts_under_the_limit() -> None:
    report = big_report(30)
    whole = render_markdown(report, limit=None)[0]
    assert len(whole) > 60_000
    parts = render_markdown(report, limit=12_000, max_parts=100)
    assert len(parts) > 5
    for number, part in enumerate(parts, start=1):
        assert len(part) <= 12_000
        assert part.startswith(f"{MARKER} part {number}/{len(parts)} -->\n")
        assert_well_formed(part)
    joined = "".join(parts)
    for pipeline in report.pipelines:
        assert joined.count(f"<b>{pipeline.name}</b>") >= 1
    resource_titles = re.findall(r"<summary>~ <code>(.*?)</code>", whole)
    assert len(resource_titles) == 60
    assert sorted(re.findall(r"<summary>~ <code>(.*?)</code>", joined)) == sorted(resource_titles)


def test_one_pipeline_larger_than_a_part_continues_in_the_next() -> None:
    report = big_report(1, lines_per_resource=60)
    parts = render_markdown(report, limit=8_000, max_parts=10)
    assert len(parts) >= 2
    assert any("<b>pipeline-000</b> (default) (continued)</summary>" in part for part in parts[1:])
    for part in parts:
        assert len(part) <= 8_000
        assert_well_formed(part)


def test_a_resource_diff_larger_than_a_part_is_cut_with_a_note() -> None:
    report = big_report(1, lines_per_resource=2_000)
    parts = render_markdown(report, limit=GITHUB_LIMIT, max_parts=10)
    assert all(len(part) <= GITHUB_LIMIT for part in parts)
    assert any("more lines not shown (the JSON report has them all)" in part for part in parts)
    for part in parts:
        assert_well_formed(part)


def test_past_the_part_limit_the_summary_stays_and_the_rest_is_named() -> None:
    report = big_report(40)
    parts = render_markdown(report, limit=12_000, max_parts=2)
    assert len(parts) == 2
    assert all(len(part) <= 12_000 for part in parts)
    assert "| 🛑 | `pipeline-039` |" in parts[0]
    note = parts[-1][parts[-1].index("**Left out**") :]
    assert "`pipeline-039`" in note or "more" in note
    assert "(the report needs more than 2 comments)" in note
    for part in parts:
        assert_well_formed(part)


def test_forge_limits() -> None:
    report = big_report(30)
    assert len(render_markdown(report, limit=GITLAB_LIMIT)) == 1
    github = render_markdown(report, limit=GITHUB_LIMIT)
    assert len(github) > 1
    assert all(len(part) <= GITHUB_LIMIT for part in github)


def test_unusual_names_cannot_break_the_markdown() -> None:
    def hostile(render: PipelineRender) -> None:
        counter = component(render, "word-counter").config
        counter["values"]["note"] = "a | b ``` </details> <script>"

    diff = diff_pipeline("word-count", None, recorded_render(), edited(hostile), DiffOptions())
    text = render_markdown(build_report(BASE, HEAD, "manifest", [None], [diff]))[0]
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<td><code>a | b ``` &lt;\u200d/details&gt; &lt;script&gt;</code></td>" in html  # one cell, a code span
    assert_well_formed(text)


def test_golden_files_are_tracked() -> None:
    assert sorted(path.name for path in Path(GOLDEN).glob("*.md")) == [
        "connector-not-applied.md",
        "connector-strimzi.md",
        "footer-and-base-findings.md",
        "mixed-change.md",
        "no-pipeline.md",
        "review.md",
        "word-count-change.md",
    ]


def test_a_summary_longer_than_a_part_is_cut_at_a_table_row() -> None:
    report = big_report(200, lines_per_resource=1)
    parts = render_markdown(report, limit=8_000, max_parts=1)
    assert len(parts) == 1
    assert len(parts[0]) <= 8_000
    assert "more summary lines not shown." in parts[0]
    rows = [line for line in parts[0].splitlines() if line.startswith("| 🛑 | `pipeline-")]
    assert 10 < len(rows) < 200


def _with_placeholders(*names: str) -> Callable[[PipelineRender], None]:
    """word-counter with `${NAME}`s kpops left literal, and kpops' internal `_cleaner` copy of its values."""

    def edit(render: PipelineRender) -> None:
        values = component(render, "word-counter").config["values"]
        for name in names:
            values[f"label-{name.lower()}"] = f"${{{name}}}"
        component(render, "word-counter").config["_cleaner"] = {"values": {"replicaCount": values["replicaCount"]}}

    return edit


def _scaled_with_placeholders(render: PipelineRender) -> None:
    component(render, "word-counter").config["values"]["replicaCount"] = 3
    manifest(render, "Deployment", "word-count-word-counter")["spec"]["replicas"] = 3
    _with_placeholders("NAMESPACE", "REGION")(render)


def _report_with_a_finding_at_base(blocking: tuple[RiskLevel, ...] = (RiskLevel.DANGER,)) -> DiffReport:
    base = edited(_with_placeholders("NAMESPACE"))
    head = edited(_scaled_with_placeholders)
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    return build_report(BASE, HEAD, "manifest", [None], [diff], blocking)


def test_a_finding_the_base_has_too_is_shown_apart_and_never_counted() -> None:
    report = _report_with_a_finding_at_base()
    by_variable = {risk.message.split("`${")[1].split("}")[0]: risk for risk in report.pipelines[0].risks}
    assert by_variable["NAMESPACE"].at_base and not by_variable["REGION"].at_base
    assert report.summary.risks == {RiskLevel.WARNING: 1}
    assert report.summary.risks_at_base == {RiskLevel.WARNING: 1}


def test_a_finding_at_base_never_blocks_even_at_a_blocking_level() -> None:
    report = _report_with_a_finding_at_base((RiskLevel.WARNING,))
    assert [risk.message for _, risk in report.blocking_risks] == [
        risk.message for risk in report.pipelines[0].risks if "REGION" in risk.message
    ]
    only_at_base = build_report(
        BASE,
        HEAD,
        "manifest",
        [None],
        [diff_pipeline("word-count", None, edited(_with_placeholders("NAMESPACE")), edited(_scaled), DiffOptions())],
        (RiskLevel.WARNING,),
    )
    assert not only_at_base.summary.blocking
    text = render_markdown(only_at_base)[0]
    assert "ready to review" in text and "**Risks**" not in text
    assert "<details><summary>1 warning already at the merge base (not introduced here" in text


def _scaled(render: PipelineRender) -> None:
    _with_placeholders("NAMESPACE")(render)
    component(render, "word-counter").config["values"]["replicaCount"] = 3


def test_golden_footer_base_findings_and_internal_fields_left_out() -> None:
    """The comment of a change that brings one `${REGION}` where `${NAMESPACE}` was literal before: the new warning
    counted, the old one folded under the base branch's name; kpops' `_cleaner` copy not in the field table; the
    footer with the commands that apply, their permissions (deploy waits for an approval here), the version and the
    timeline."""
    report = _report_with_a_finding_at_base()
    policy = CommandPolicy(require_approval=[CommandName.DEPLOY])
    footer = Footer(
        next_commands(report, policy), "0.1.0", "https://bot.example/status/pull?key=github%3Aacme%2Fd%2312"
    )
    [text] = render_markdown(report, footer=footer, base_branch="main")
    check_golden("footer-and-base-findings.md", text)
    summary = text.partition("<details><summary>1 warning already")[0]
    assert "REGION" in summary and "NAMESPACE" not in summary
    assert "| `_cleaner" not in text and "Left out: kpops' internal field `_cleaner`" in text
    assert text.rstrip().endswith("</sub>")


def test_the_footer_ends_the_last_part_only_and_every_part_stays_under_the_limit() -> None:
    report = big_report(12)
    footer = Footer(next_commands(report, CommandPolicy()), "0.1.0")
    parts = render_markdown(report, limit=12_000, max_parts=100, footer=footer)
    assert len(parts) > 2
    assert all(len(part) <= 12_000 for part in parts)
    assert ["kpops-bot 0.1.0" in part for part in parts] == [False] * (len(parts) - 1) + [True]


def test_next_commands_follow_the_change_and_the_repositorys_roles() -> None:
    policy = CommandPolicy(roles={CommandName.RESET: Role.MAINTAIN})
    suggested = {command.text: command.who for command in next_commands(mixed_report(), policy)}
    assert suggested == {
        "/kpops diff": "everyone",
        "/kpops deploy --dry-run": "write",  # the added pipeline
        "/kpops deploy": "write",
        "/kpops destroy legacy-export": "maintain",  # the removed one
    }  # no reset: nothing changed that exists at the base (word-count is unchanged, team-a-orders fails)
    changed = {command.text: command.who for command in next_commands(word_count_report(), policy)}
    assert changed["/kpops reset word-count"] == "maintain"
