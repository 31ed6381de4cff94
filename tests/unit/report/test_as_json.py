from __future__ import annotations

import json

from kpops_bot.diff.compute import DiffOptions, build_report, diff_pipeline
from kpops_bot.diff.model import DiffReport
from kpops_bot.model.render import ComponentRender, PipelineRender
from kpops_bot.report.as_json import render_json
from kpops_bot.sources import PipelineSources, SourceFile
from tests.support.renders import component, manifest, recorded_render


def test_json_report_has_the_documented_shape_and_round_trips() -> None:
    base = recorded_render()
    head = PipelineRender.model_validate(base.model_dump() | {"revision": "head"})
    head = PipelineRender.model_validate_json(head.model_dump_json())
    component(head, "redis-sink-connector").config["config"]["connection.password"] = "json-secret-value"
    manifest(head, "Deployment", "word-count-word-counter")["spec"]["replicas"] = 5
    report = build_report(
        "b" * 40, "h" * 40, "manifest", [None], [diff_pipeline("word-count", None, base, head, DiffOptions())]
    )
    text = render_json(report)
    assert "json-secret-value" not in text
    document = json.loads(text)
    pipeline = document["pipelines"][0]
    assert set(pipeline) >= {"name", "environment", "status", "error", "risks", "components"}
    counter = next(c for c in pipeline["components"] if c["name"] == "word-counter")
    assert set(counter) >= {"name", "type", "status", "config_changes", "resources"}
    deployment = next(r for r in counter["resources"] if r["kind"] == "Deployment")
    assert set(deployment) >= {"apiVersion", "kind", "namespace", "name", "status", "diff"}
    assert deployment["status"] == "changed"
    assert "+  replicas: 5" in deployment["diff"]
    connector = next(c for c in pipeline["components"] if c["name"] == "redis-sink-connector")
    assert connector["config_changes"] == [
        {"path": 'config["connection.password"]', "change": "changed", "old": "***", "new": "*** (changed)"}
    ]
    assert document["summary"]["pipelines"] == {"changed": 1}
    assert document["summary"]["blocking"] is False
    assert DiffReport.model_validate(document) == report


AUDIT_PIPELINE = """\
- type: kafka-sink-connector
  name: audit-sink
  config:
    connector.class: io.example.AuditSink
    topics: ${AUDIT_TOPIC}
"""


def test_json_has_what_the_markdown_shows_of_added_components_risks_and_sizes() -> None:
    base = recorded_render()
    head = PipelineRender.model_validate(base.model_dump() | {"revision": "head"})
    config = {
        "type": "kafka-sink-connector",
        "name": "audit-sink",
        "config": {"connector.class": "io.example.AuditSink", "topics": "${AUDIT_TOPIC}", "api.token": "t0ken-value"},
    }
    head.components.append(ComponentRender(name="audit-sink", type="kafka-sink-connector", config=config))
    sources = PipelineSources(pipeline_files=[SourceFile("pipelines/word-count/pipeline.yaml", AUDIT_PIPELINE)])
    diff = diff_pipeline("word-count", None, base, head, DiffOptions(), sources)
    document = json.loads(render_json(build_report("b" * 40, "h" * 40, "manifest", [None], [diff])))
    pipeline = document["pipelines"][0]
    sink = next(c for c in pipeline["components"] if c["name"] == "audit-sink")
    assert sink["status"] == "added"
    assert {"path": 'config["api.token"]', "value": "***"} in sink["config"]
    assert {"path": "config.topics", "value": "${AUDIT_TOPIC}"} in sink["config"]
    assert pipeline["size"] == {"added": len(sink["config"]), "removed": 0}
    risk, not_applied = pipeline["risks"]
    assert (risk["code"], risk["component"], risk["field"]) == ("variable-unset", "audit-sink", "config.topics")
    assert (not_applied["code"], not_applied["level"], not_applied["component"]) == (
        "not-applied",
        "warning",
        "audit-sink",
    )
    assert (sink["applied"], sink["reason"].startswith("not deployed in manifest mode: `audit-sink`")) == (False, True)
    assert risk["source"] == {"file": "pipelines/word-count/pipeline.yaml", "line": 5}
    assert "t0ken-value" not in json.dumps(document)


def test_compact_json_is_the_same_document_on_one_line() -> None:
    """`kpops-bot diff --format json` writes it compact: only then does Python's C encoder run."""
    base = recorded_render()
    head = PipelineRender.model_validate(base.model_dump() | {"revision": "head"})
    head = PipelineRender.model_validate_json(head.model_dump_json())
    manifest(head, "Deployment", "word-count-word-counter")["spec"]["replicas"] = 5
    manifest(head, "Deployment", "word-count-word-counter")["metadata"]["labels"] = {"team": "Ærø 🚀"}
    report = build_report(
        "b" * 40, "h" * 40, "manifest", [None], [diff_pipeline("word-count", None, base, head, DiffOptions())]
    )
    compact = render_json(report, compact=True)
    assert compact.count("\n") == 1
    assert compact.endswith("}\n")
    assert "Ærø 🚀" in compact, "text as it is, not escaped"
    assert json.loads(compact) == json.loads(render_json(report))
