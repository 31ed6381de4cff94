"""Rego policies: evaluated in a bounded child process with regopy, as conftest reads them; judged at the base."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kpops_bot.diff.compute import DiffOptions, diff_pipeline
from kpops_bot.diff.model import RiskLevel
from kpops_bot.dryrun.request import DiffRequest
from kpops_bot.dryrun.run import diff_revisions
from kpops_bot.engine.pool import RenderPool
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.jobs import JobKind
from kpops_bot.masking import Masker
from kpops_bot.model.forge import CommitState
from kpops_bot.model.policy import (
    Limits,
    PolicyError,
    PolicyModule,
    PolicyOptions,
    PolicyRevision,
    PolicySet,
    PullRequestFacts,
)
from kpops_bot.model.render import Mode
from kpops_bot.policy import judge
from kpops_bot.policy.check import Judged, check, policy_sets
from kpops_bot.policy.evaluate import Evaluation, evaluate
from kpops_bot.policy.load import from_directory, from_files
from kpops_bot.policy.verify import verify
from kpops_bot.repo_config import effective, parse_repo_config
from kpops_bot.report.check_run import check_report
from kpops_bot.report.markdown import render_markdown
from kpops_bot.workflows.preview import PreviewWorkflow
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo
from tests.support.golden import check_golden
from tests.support.recording_forge import RecordingForge
from tests.support.renders import component, recorded_render
from tests.support.reports import edited
from tests.support.workflow_kit import HEAD, job, pull_request_event, settings
from tests.unit.test_cli import kpops_bot
from tests.unit.test_cli_diff import diff_args

# Every evaluation is a child process of its own (`policy/evaluate.py`): beyond the unit lane's "no subprocess".
pytestmark = pytest.mark.subprocess

STARTER = Path(__file__).resolve().parents[2] / "examples" / "policies"
PIPELINE_SCHEMA, CHANGE_SCHEMA = "pipeline-input.schema.json", "change-input.schema.json"
WORD_COUNT = "pipelines/word-count/pipeline.yaml"
TOPIC = {"kind": "KafkaTopic", "metadata": {"name": "orders"}, "spec": {"replicas": 1}}


def _set(*modules: tuple[str, str]) -> PolicySet:
    return PolicySet("test", tuple(PolicyModule(path, text) for path, text in modules))


def _messages(policies: PolicySet, document: dict[str, Any], namespace: str = "main") -> list[tuple[str, str]]:
    [found] = evaluate(policies, [Evaluation(namespace, document)], Limits())
    return [(finding.rule, finding.message) for finding in found]


def test_rego_v1_and_the_older_form_both_deny_with_strings_and_objects() -> None:
    v1 = """package main
import rego.v1

deny contains msg if {
    input.kind == "KafkaTopic"
    input.spec.replicas < 3
    msg := sprintf("topic %s has %d replicas", [input.metadata.name, input.spec.replicas])
}

warn_naming contains {"msg": "no team prefix", "topic": input.metadata.name} if not contains(input.metadata.name, ".")
"""
    older = """package main

violation[msg] {
    input.kind == "KafkaTopic"
    msg := {"msg": "older form", "field": "spec"}
}
"""
    policies = _set(("policies/v1.rego", v1), ("policies/older.rego", older))
    assert sorted(_messages(policies, TOPIC)) == [
        ("deny", "topic orders has 1 replicas"),
        ("violation", "older form"),
        ("warn_naming", "no team prefix"),
    ]
    assert _messages(policies, {"kind": "Deployment", "metadata": {"name": "a.b"}}) == []


def test_data_files_beside_the_policies_are_data(tmp_path: Path) -> None:
    (tmp_path / "limits.yaml").write_text("limits:\n  replicas: 5\n", encoding="utf-8")
    (tmp_path / "p.rego").write_text(
        'package main\nimport rego.v1\ndeny contains "few" if input.spec.replicas < data.limits.replicas\n',
        encoding="utf-8",
    )
    policies = from_directory(tmp_path)
    assert _messages(policies, {"spec": {"replicas": 4}}) == [("deny", "few")]
    assert _messages(policies, {"spec": {"replicas": 5}}) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("package main\nimport rego.v1\n\ndeny contains msg if {\n", "policies/broken.rego:4: this is unclosed"),
        (
            'package main\nimport rego.v1\n\ndeny contains m if { m := to_number("not a number") }\n',
            "policies/broken.rego:4: invalid syntax",
        ),
        (  # rego-cpp 1.5.2 answers this with a quote it does not escape: an error, never a pass
            'package main\nimport rego.v1\n\ndeny contains sprintf("by %s", [object.get({}, "a", "nobody")]) if true\n',
            "policies/broken.rego: the evaluator's answer is not valid JSON (a string with an unescaped quote?)",
        ),
    ],
    ids=["syntax", "runtime", "unescaped-answer"],
)
def test_a_policy_that_cannot_be_evaluated_is_an_error_naming_its_file(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as raised:
        _messages(_set(("policies/broken.rego", text)), TOPIC)
    assert str(raised.value) == expected


@pytest.mark.parametrize(
    "body",
    [
        "f(x) := y if { y := f(x + 1) }\ndeny contains m if { m := f(1) }\n",
        'deny contains m if { n := count([x | some x in numbers.range(1, 2000000000)]); m := sprintf("%d", [n]) }\n',
    ],
    ids=["recursion", "huge"],
)
def test_a_policy_bomb_ends_as_an_error(body: str) -> None:
    policies = _set(("policies/bomb.rego", f"package main\nimport rego.v1\n\n{body}"))
    with pytest.raises(PolicyError) as raised:
        evaluate(policies, [Evaluation("main", {})], Limits(seconds=3, memory_bytes=256 << 20))
    assert "policies/bomb.rego" in str(raised.value)
    if "numbers.range" in body:
        assert "policy evaluation exceeded its limit" in str(raised.value)
    else:  # rego-cpp finds it when it compiles the module: no evaluation runs to the limit
        assert "Recursion detected in rule body: data.main.deny" in str(raised.value)


def test_a_policy_sees_none_of_the_bots_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPOPS_BOT_GITHUB__TOKEN", "ghs_policy-must-not-see-this")
    spy = 'package main\nimport rego.v1\n\ndeny contains sprintf("%v", [opa.runtime().env]) if true\n'
    [(_, message)] = _messages(_set(("policies/spy.rego", spy)), {})
    assert "ghs_policy-must-not-see-this" not in message
    assert "KPOPS_BOT" not in message


@pytest.mark.bot_process
def test_the_starter_packs_own_tests_pass() -> None:
    results = verify(from_directory(STARTER), Limits())
    assert len(results) >= 15
    assert [result.name for result in results if not result.passed] == []
    done = subprocess.run(
        [sys.executable, "-m", "kpops_bot", "policy", "test", str(STARTER)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout


def test_a_failing_test_fails_policy_test(tmp_path: Path) -> None:
    shutil.copytree(STARTER, tmp_path / "policies")
    text = (tmp_path / "policies/data.yaml").read_text(encoding="utf-8")
    (tmp_path / "policies/data.yaml").write_text(text.replace("min_replicas: 3", "min_replicas: 1"), encoding="utf-8")
    failed = [result.name for result in verify(from_directory(tmp_path / "policies"), Limits()) if not result.passed]
    assert failed == ["data.kpops.test_one_replica_in_prod_is_denied"]


WITH_INPUT_RULE = """package main
import rego.v1

deny contains sprintf("%s %s is a topic", [input.kind, name]) if {
    upper(input.kind) == "KAFKATOPIC"
    name := object.get(input, ["metadata", "name"], "unnamed")
}
"""


def test_tests_with_input_as_over_rules_that_call_built_ins_are_evaluated(tmp_path: Path) -> None:
    """rego-cpp 1.5.2 crashes on `with input as` over a rule that calls a built-in; `policy test` gives each test its
    input instead (`policy/with_input.py`): written as for conftest, the tests pass and fail as they should."""
    (tmp_path / "p.rego").write_text(WITH_INPUT_RULE, encoding="utf-8")
    (tmp_path / "p_test.rego").write_text(
        """package main
import rego.v1

topic := {"kind": "KafkaTopic", "metadata": {"name": "orders"}}

test_a_topic_is_denied if {
    deny == {"KafkaTopic orders is a topic"} with input as topic
}

test_its_variables_are_bound_first if {
    doc := object.union(topic, {"metadata": {"name": "refunds"}})
    count(deny) == 1 with input as doc
    deny["KafkaTopic refunds is a topic"] with input as doc  # the same input again
}

test_a_config_map_passes if {
    count(deny) == 0 with input as {"kind": "ConfigMap", "metadata": {"name": "x; with"}}
}

test_a_wrong_expectation_fails if {
    count(deny) == 0 with input as {"kind": "KafkaTopic"}
}

test_an_undefined_input_fails if {
    count(deny) == 0 with input as data.nothing
}

test_without_input if { 1 + 1 == 2 }
""",
        encoding="utf-8",
    )
    results = {
        result.name.removeprefix("data.main."): result.passed for result in verify(from_directory(tmp_path), Limits())
    }
    assert results == {
        "test_a_topic_is_denied": True,
        "test_its_variables_are_bound_first": True,
        "test_a_config_map_passes": True,
        "test_a_wrong_expectation_fails": False,
        "test_an_undefined_input_fails": False,
        "test_without_input": True,
    }


def test_with_input_is_read_outside_strings_raw_strings_and_comments() -> None:
    from kpops_bot.policy.with_input import rewrite

    text = (
        "package main\n\nnote := `\ntest_fake if { x with input as y }\n`\n\n"
        "# test_comment if { deny with input as 1 }\n"
        'test_real if {\n    msg := "with input as nothing"\n    count(deny) == 0 with input as {"k": "}"}\n}\n'
    )
    rewritten, tests = rewrite(text)
    assert [(t.test, t.helper) for t in tests] == [("test_real", "__kpops_input_test_real")]
    lines = rewritten.splitlines()
    assert lines[: len(text.splitlines())] == [
        *text.splitlines()[:9],
        "    count(deny) == 0" + " " * len(' with input as {"k": "}"}'),
        "}",
    ]
    assert rewritten.endswith('__kpops_input_test_real := ({"k": "}"}) if {\nmsg := "with input as nothing"\n}\n')


def test_a_test_the_evaluator_crashes_on_is_an_error_and_does_not_stop_the_rules(tmp_path: Path) -> None:
    """A test with two inputs is left to rego-cpp's `with`, which crashes over a rule that calls a built-in:
    `policy test` says so; the dry run leaves conftest's test files out, so the rules still judge."""
    (tmp_path / "p.rego").write_text(
        'package main\nimport rego.v1\n\ndeny contains "x" if upper(input.kind) == "KAFKATOPIC"\n', encoding="utf-8"
    )
    (tmp_path / "p_test.rego").write_text(
        "package main\nimport rego.v1\n\ntest_x if {\n"
        '    count(deny) == 1 with input as {"kind": "KafkaTopic"}\n'
        '    count(deny) == 0 with input as {"kind": "ConfigMap"}\n'
        "}\n",
        encoding="utf-8",
    )
    policies = from_directory(tmp_path)
    with pytest.raises(PolicyError) as raised:
        verify(policies, Limits())
    assert "p_test.rego" in str(raised.value)
    assert "with input as" in str(raised.value)
    assert policy_sets(PolicyOptions(folders=(str(tmp_path),)), None)[0].modules == (policies.modules[0],)
    [found] = evaluate(policies.without_tests(), [Evaluation("main", {"kind": "KafkaTopic"})], Limits())
    assert [f.message for f in found] == ["x"]


def test_only_the_folders_rego_and_data_files_are_read() -> None:
    files = {"policies/a.rego": "package main\n", "policies/README.md": "# x", "policies/d.json": '{"x": 1}'}
    policies = from_files("x", files, files.get)
    assert [module.path for module in policies.modules] == ["policies/a.rego"]
    assert policies.data == {"x": 1}


def test_the_pipeline_input_is_what_its_schema_documents() -> None:
    base = recorded_render()
    head = edited(lambda render: component(render, "word-counter").config["values"].update(replicaCount=5))
    diff = diff_pipeline("word-count", "prod", base, head, DiffOptions())
    facts = PullRequestFacts(number=7, labels=("risky",), author="alice", target_branch="main")
    evaluation = judge.pipeline_evaluation(diff, base, head, Mode.MANIFEST, facts, Masker())
    schema = json.loads((Path(judge.__file__).parent / "pipeline-input.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(evaluation.input, schema)
    [counter] = [c for c in evaluation.input["components"] if c["name"] == "word-counter"]
    assert counter["changed_fields"] == ["values.replicaCount"]
    assert counter["base"]["config"]["values"]["replicaCount"] != counter["head"]["config"]["values"]["replicaCount"]
    assert evaluation.input["pull_request"]["labels"] == ["risky"]


def test_the_change_input_with_the_graph_is_what_its_schema_documents() -> None:
    from referencing import Registry, Resource

    from kpops_bot.diff.graph import build
    from tests.unit.diff.test_graph import ARCHIVE, ENRICHER, PRODUCER, rendered

    base = recorded_render()
    head = edited(lambda render: component(render, "word-counter").config["values"].update(replicaCount=5))
    diff = diff_pipeline("word-count", "prod", base, head, DiffOptions())
    facts = PullRequestFacts(number=7, labels=("risky",), author="alice", target_branch="main")
    pipeline = judge.pipeline_evaluation(diff, base, head, Mode.MANIFEST, facts, Masker())
    graph = build([rendered("team-a-orders", PRODUCER, ENRICHER), rendered("team-c-audit", ARCHIVE)])
    masker = Masker.create(known_secrets=["enricher-error"])
    flows = {
        "environment": "prod",
        "base": judge.graph_document(graph, masker),
        "head": judge.graph_document(graph, masker),
    }
    change = judge.change_evaluation([pipeline], facts, [flows])
    folder = Path(judge.__file__).parent
    schemas = {
        name: json.loads((folder / name).read_text(encoding="utf-8")) for name in (PIPELINE_SCHEMA, CHANGE_SCHEMA)
    }
    registry = Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in schemas.values())
    jsonschema.Draft202012Validator(schemas[CHANGE_SCHEMA], registry=registry).validate(change.input)
    shown = {(f["pipeline"], f["component"], f["direction"], f["topic"], f["pattern"]) for f in flows["head"]["flows"]}
    assert ("team-c-audit", "archive", "reads", "orders|enriched", True) in shown
    assert ("team-a-orders", "enricher", "writes", "enriched", False) in shown
    assert not any("enricher-error" in str(flow) for flow in flows["head"]["flows"])  # masked as the report masks
    with pytest.raises(jsonschema.ValidationError):  # the schema is strict: a key it does not document fails
        jsonschema.Draft202012Validator(schemas[CHANGE_SCHEMA], registry=registry).validate({**change.input, "x": 1})


# With real kpops renders of the fixture repository.


@pytest.fixture
def judged_repo(deployment_repo: GitRepo) -> GitRepo:
    """The starter pack in `policies/` on main; a feature branch that changes word-count."""
    for path in sorted(STARTER.iterdir()):
        deployment_repo.write(f"policies/{path.name}", path.read_text(encoding="utf-8"))
    deployment_repo.commit("Policies: the starter pack")
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    return deployment_repo


def _prod(repo: GitRepo) -> DiffRequest:
    return DiffRequest(source=str(repo.path), base="main", head="feature", environments=["prod"])


def _replica_denials(report: Any) -> list[Any]:
    return [
        (pipeline.name, risk)
        for pipeline in report.pipelines
        for risk in pipeline.risks
        if risk.code == "policy" and "replicas; production needs" in risk.message
    ]


def _line_of(repo: GitRepo, path: str, text: str) -> int:
    lines = (repo.path / path).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def test_a_prod_topic_with_one_replica_is_denied_at_its_line(
    judged_repo: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    judged_repo.commit("Scale word-count")
    report = diff_revisions(workspace, pool, _prod(judged_repo))
    denials = {risk.topic: (pipeline, risk) for pipeline, risk in _replica_denials(report)}
    # word-counter's output topic sets 1 in the pipeline file; its error topic has 1 from defaults.yaml
    assert sorted(denials) == ["word-count-word-counter-error", "word-count-word-counter-topic"]
    pipeline, risk = denials["word-count-word-counter-topic"]
    assert pipeline == "word-count"
    assert risk.level is RiskLevel.DANGER
    assert risk.rule == "kpops.deny"
    assert risk.component == "word-counter"
    assert risk.topic == "word-count-word-counter-topic"
    assert risk.message.startswith("policy `kpops.deny`: topic word-count-word-counter-topic has 1 replicas")
    assert risk.source is not None
    assert (risk.source.file, risk.source.line) == (WORD_COUNT, _line_of(judged_repo, WORD_COUNT, "replication_factor"))
    assert report.summary.blocking
    # the manifest rules judged each rendered KafkaTopic too: its name has no <team>.<domain> prefix
    names = [r for p in report.pipelines for r in p.risks if r.rule == "main.deny" and "not named" in r.message]
    assert any(r.topic == "word-count-word-counter-topic" for r in names)
    annotations = check_report(report).annotations
    assert any(
        (a.path, a.line, a.title) == (WORD_COUNT, risk.source.line, "danger · word-count: policy kpops.deny")
        and "word-count-word-counter-topic has 1 replicas" in a.message
        for a in annotations
    )
    shown = report.model_copy(update={"base": "b" * 40, "head": "c" * 40})  # commits differ from run to run
    markdown = "".join(render_markdown(shown))
    assert f"`{WORD_COUNT}:{risk.source.line}`" in markdown
    check_golden("policy/prod-replicas-denied.md", markdown)


def test_a_pull_request_deleting_the_rule_is_still_judged_by_the_base(
    judged_repo: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    judged_repo.git("rm", "-q", "policies/production.rego")
    judged_repo.commit("Scale word-count, drop the production rule")
    report = diff_revisions(workspace, pool, _prod(judged_repo))
    assert {name for name, _ in _replica_denials(report)} == {"word-count"}
    word_count = next(pipeline for pipeline in report.pipelines if pipeline.name == "word-count")
    assert any("These policies change: `policies/production.rego`" in note for note in word_count.notes)


def test_an_apply_is_judged_by_the_merged_commits_policies(
    judged_repo: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    """The gate of an apply (`workflows/policy_gate.py`) reads the policies at the merged commit: a merged change to the
    policies took effect with the merge; the gate of a deploy reads them at the merge base, as the preview."""
    judged_repo.git("rm", "-q", "policies/production.rego")
    judged_repo.commit("Scale word-count, drop the production rule")
    judged_repo.git("checkout", "-q", "main")
    judged_repo.git("merge", "-q", "--no-ff", "feature", "-m", "Merge feature")
    merge = judged_repo.git("rev-parse", "HEAD").strip()
    request = DiffRequest(source=str(judged_repo.path), base=f"{merge}^", head=merge, environments=["prod"])
    applied = diff_revisions(workspace, pool, replace(request, policies_at=PolicyRevision.HEAD, only_if_judged=True))
    assert [p.name for p in applied.pipelines] == ["word-count"]
    assert _replica_denials(applied) == []
    assert not any("These policies change" in note for p in applied.pipelines for note in p.notes)
    before = diff_revisions(workspace, pool, request)  # the rule as the merge's first parent has it
    assert {name for name, _ in _replica_denials(before)} == {"word-count"}


def test_a_gates_dry_run_renders_nothing_without_policies(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    deployment_repo.commit("Scale word-count")
    gated = diff_revisions(workspace, pool, replace(_prod(deployment_repo), only_if_judged=True))
    assert gated.pipelines == [] and not gated.summary.blocking  # no pipeline rendered, none judged


def test_without_policies_there_is_no_policy_risk(
    deployment_repo: GitRepo, workspace: Workspace, pool: RenderPool
) -> None:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    deployment_repo.commit("Scale word-count")
    report = diff_revisions(workspace, pool, _prod(deployment_repo))
    assert report.pipelines
    assert [r for p in report.pipelines for r in p.risks if r.code == "policy"] == []
    # the same change judged by the organisation's folder (as `kpops-bot diff --policies` gives it)
    options = DiffOptions()
    options = replace(options, policies=replace(options.policies, folders=(str(STARTER),)))
    judged = diff_revisions(workspace, pool, _prod(deployment_repo), options)
    assert {name for name, _ in _replica_denials(judged)} == {"word-count"}


def test_a_policy_with_a_syntax_error_makes_the_preview_an_error_naming_the_file(
    judged_repo: GitRepo, workspace: Workspace, pool: RenderPool, tmp_path: Path
) -> None:
    judged_repo.commit("Scale word-count")
    judged_repo.git("checkout", "-q", "main")
    judged_repo.write("policies/broken.rego", "package main\nimport rego.v1\n\ndeny contains msg if {\n")
    judged_repo.commit("A broken policy")
    judged_repo.git("checkout", "-q", "feature")
    judged_repo.git("merge", "-q", "main", "-m", "Merge main")

    def real_diff(request: DiffRequest, options: DiffOptions, **_: object) -> Any:
        return diff_revisions(workspace, pool, replace(request, source=str(judged_repo.path), head="feature"), options)

    forge = RecordingForge()
    workflow = PreviewWorkflow(
        settings(tmp_path, environments={"main": ["prod"]}), lambda _forge: forge, real_diff, lambda *_: None
    )
    outcome = workflow.run(job(pull_request_event(), JobKind.PREVIEW))
    assert outcome == "no preview: a policy failed to evaluate"
    [note] = forge.bot_bodies(1)
    assert "policies/broken.rego:4: this is unclosed" in note
    assert forge.last_status(HEAD).state is CommitState.ERROR
    check_golden("bot/preview-failed-policy.md", note)


@pytest.mark.parametrize(
    ("bomb", "expected"),
    [
        ("f(x) := y if { y := f(x + 1) }\ndeny contains m if { m := f(1) }\n", "Recursion detected in rule body"),
        (
            "deny contains m if {\n  n := count([x | some x in numbers.range(1, 2000000000)])\n"
            '  m := sprintf("%d", [n])\n}\n',
            "policy evaluation exceeded its limit (3 s, 256 MiB)",
        ),
    ],
    ids=["recursion", "huge"],
)
def test_a_policy_bomb_in_the_repository_ends_the_dry_run_within_its_limit_naming_the_file(
    judged_repo: GitRepo, workspace: Workspace, pool: RenderPool, bomb: str, expected: str
) -> None:
    judged_repo.commit("Scale word-count")
    judged_repo.git("checkout", "-q", "main")
    judged_repo.write("policies/bomb.rego", f"package kpops\nimport rego.v1\n\n{bomb}")
    judged_repo.commit("A policy bomb")
    judged_repo.git("checkout", "-q", "feature")
    judged_repo.git("merge", "-q", "main", "-m", "Merge main")
    options = DiffOptions()
    options = replace(options, policies=replace(options.policies, limits=Limits(seconds=3, memory_bytes=256 << 20)))
    with pytest.raises(PolicyError) as raised:
        diff_revisions(workspace, pool, _prod(judged_repo), options)
    assert expected in str(raised.value)
    assert "policies/bomb.rego" in str(raised.value)


def test_kpops_bot_diff_with_policies(deployment_repo: GitRepo, chart_server: ChartServer, tmp_path: Path) -> None:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    deployment_repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")
    deployment_repo.commit("Scale word-count")
    args = [
        *diff_args(deployment_repo, chart_server, str(tmp_path / "ws")),
        "--environment",
        "prod",
        "--format",
        "json",
    ]
    plain = kpops_bot(*args, cwd=tmp_path)
    judged = kpops_bot(*args, "--policies", str(STARTER), cwd=tmp_path)
    # a denial blocks like a danger: `diff` exits 3 (the CI gate)
    assert plain.returncode == 0 and judged.returncode == 3, plain.stderr + judged.stderr
    rules = {
        (risk["rule"], risk["topic"])
        for pipeline in json.loads(judged.stdout)["pipelines"]
        for risk in pipeline["risks"]
        if risk["code"] == "policy"
    }
    assert ("kpops.deny", "word-count-word-counter-topic") in rules
    assert not [r for p in json.loads(plain.stdout)["pipelines"] for r in p["risks"] if r["code"] == "policy"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.rego").write_text("package main\nimport rego.v1\n\ndeny contains msg if {\n", encoding="utf-8")
    failed = kpops_bot(*args, "--policies", str(broken), cwd=tmp_path)
    assert failed.returncode == 1
    assert f"{broken}/bad.rego:4: this is unclosed" in failed.stderr


def test_the_repository_names_its_policy_folder_and_the_server_its_own(tmp_path: Path) -> None:
    server = settings(tmp_path, policy_folders=["/etc/kpops-bot/policies"], policy_seconds=5)
    default = effective(server, parse_repo_config(None), "main").diff_options.policies
    assert (default.repository_folder, default.folders, default.limits.seconds) == (
        "policies",
        ("/etc/kpops-bot/policies",),
        5,
    )
    named = effective(server, parse_repo_config("policies: rules/kafka\n"), "main").diff_options.policies
    assert (named.repository_folder, named.folders) == ("rules/kafka", ("/etc/kpops-bot/policies",))


def test_one_document_for_the_whole_change_and_its_findings_on_the_pipeline_they_name() -> None:
    base = recorded_render()
    head = edited(lambda render: component(render, "word-counter").config["values"].update(replicaCount=5))
    diffs = [diff_pipeline("word-count", env, base, head, DiffOptions()) for env in ("dev", "prod")]
    judged = [Judged(diff, base, head, None) for diff in diffs]
    rule = """package kpops.change
import rego.v1

deny contains {"msg": sprintf("%d pipelines change without the label", [count(input.pipelines)]),
               "pipeline": "word-count", "environment": "prod"} if {
    not "reviewed-by-platform" in input.pull_request.labels
}
"""
    facts = PullRequestFacts(number=3, labels=("other",))
    check(judged, [_set(("policies/change.rego", rule))], Mode.MANIFEST, PolicyOptions(pull_request=facts), Masker())
    found = [(d.environment, r.rule, r.message) for d in diffs for r in d.risks if r.code == "policy"]
    assert found == [("prod", "kpops.change.deny", "policy `kpops.change.deny`: 2 pipelines change without the label")]
    labelled = PolicyOptions(pull_request=PullRequestFacts(labels=("reviewed-by-platform",)))
    again = [Judged(diff_pipeline("word-count", "prod", base, head, DiffOptions()), base, head, None)]
    check(again, [_set(("policies/change.rego", rule))], Mode.MANIFEST, labelled, Masker())
    assert [r for r in again[0].diff.risks if r.code == "policy"] == []
