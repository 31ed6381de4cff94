"""Golden files for the review's new parts, from plain data: an added connector's configuration, the summary row's
size and names, and each new risk with the file and line behind it."""

from __future__ import annotations

from kpops_bot.diff.compute import DiffOptions, build_report, diff_pipeline
from kpops_bot.diff.model import DiffReport
from kpops_bot.model.render import ComponentRender, PipelineRender
from kpops_bot.report.as_json import render_json
from kpops_bot.report.markdown import render_markdown
from kpops_bot.sources import PipelineSources, SourceFile
from tests.support.golden import check_golden
from tests.support.renders import component, manifest, recorded_render
from tests.support.reports import BASE, HEAD, edited

PIPELINE_FILE = "pipelines/word-count/pipeline.yaml"
DEFAULTS_FILE = "pipelines/defaults.yaml"
DEFAULTS = """\
streams-app:
  to:
    topics:
      ${error_topic_name}:
        type: error
        replication_factor: 3
"""
PIPELINE = """\
- type: producer-app
  name: data-producer
  enabled: false

- type: streams-app
  name: word-counter
  to:
    topics:
      word-count-counts:
        type: output
        partitions_count: 3
        replication_factor: 1
  values:
    image: ${DOCKER_REGISTRY}/word-count-app
    replicaCount: three

- type: kafka-sink-connector
  name: audit-sink
  config:
    connector.class: io.example.AuditSink
    audit.token: do-not-show
"""


def review(head: PipelineRender) -> None:
    head.components = [c for c in head.components if c.name != "data-producer"]
    counter = component(head, "word-counter").config
    topics = counter["to"]["topics"]
    topics["word-count-counts"] = topics.pop("word-count-word-counter-topic")
    topics["word-count-word-counter-error"]["replication_factor"] = 3
    counter["values"]["image"] = "${DOCKER_REGISTRY}/word-count-app"
    manifest(head, "Deployment", "word-count-word-counter")["spec"]["replicas"] = "three"
    sink = {
        "type": "kafka-sink-connector",
        "name": "audit-sink",
        "config": {"connector.class": "io.example.AuditSink", "audit.token": "do-not-show"},
    }
    head.components.append(ComponentRender(name="audit-sink", type="kafka-sink-connector", config=sink))


def review_report() -> DiffReport:
    sources = PipelineSources(
        pipeline_files=[SourceFile(PIPELINE_FILE, PIPELINE)], defaults_files=[SourceFile(DEFAULTS_FILE, DEFAULTS)]
    )
    diff = diff_pipeline("word-count", None, recorded_render(), edited(review), DiffOptions(), sources)
    return build_report(BASE, HEAD, "manifest", [None], [diff])


def test_golden_review() -> None:
    report = review_report()
    [text] = render_markdown(report)
    check_golden("review.md", text)
    check_golden("review.json", render_json(report))
    assert "do-not-show" not in text + render_json(report)
    codes = {
        risk.code: (risk.source.file, risk.source.line) if risk.source else None for risk in report.pipelines[0].risks
    }
    assert codes["variable-unset"] == (PIPELINE_FILE, 14)
    assert codes["manifest-invalid"] == (PIPELINE_FILE, 15)
    assert codes["component-disabled"] == (PIPELINE_FILE, 3)
    assert codes["topic-renamed"] == (PIPELINE_FILE, 9)
    assert codes["replication-factor-changed"] == (DEFAULTS_FILE, 6)
