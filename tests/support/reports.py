"""Diff reports built from the recorded word-count render, edited the way a pull request would: no kpops needed."""

from __future__ import annotations

import copy
from collections.abc import Callable

from kpops_bot.diff.compute import DiffOptions, build_report, diff_pipeline
from kpops_bot.diff.model import DiffReport
from kpops_bot.model.render import PipelineRender, RenderError
from tests.support.renders import component, manifest, recorded_render

BASE = "1" * 40
HEAD = "2" * 40


def edited(edit: Callable[[PipelineRender], None], name: str = "word-count") -> PipelineRender:
    render = PipelineRender.model_validate(copy.deepcopy(recorded_render().model_dump()) | {"revision": HEAD})
    render.name = name
    edit(render)
    return render


def reviewed_change(head: PipelineRender) -> None:
    """The change of the issue: replicas up, partitions down, connector tasks and password changed."""
    counter = component(head, "word-counter").config
    counter["values"]["replicaCount"] = 3
    counter["to"]["topics"]["word-count-word-counter-topic"]["partitions_count"] = 1
    manifest(head, "Deployment", "word-count-word-counter")["spec"]["replicas"] = 3
    manifest(head, "KafkaTopic", "word-count-word-counter-topic")["spec"]["partitions"] = 1
    connector = component(head, "redis-sink-connector").config["config"]
    connector["tasks.max"] = "2"
    connector["connection.password"] = "n3w-vault-password"


def word_count_report() -> DiffReport:
    diff = diff_pipeline("word-count", None, recorded_render(), edited(reviewed_change), DiffOptions())
    return build_report(BASE, HEAD, "manifest", [None], [diff])


def mixed_report() -> DiffReport:
    base = recorded_render()
    error = RenderError(
        message="pipelines/team-a/orders/pipeline.yaml:7: invalid YAML: expected <block end>, but found '-'",
        kind="yaml",
        file="pipelines/team-a/orders/pipeline.yaml",
        line=7,
    )
    broken = edited(lambda render: None, "team-a-orders").model_copy(update={"error": error, "components": []})
    options = DiffOptions()
    pipelines = [
        diff_pipeline("team-a-orders", "dev", base, broken, options),
        diff_pipeline("team-b-analytics-clickstream", "dev", None, edited(lambda r: None), options),
        diff_pipeline("legacy-export", "prod", base, None, options),
        diff_pipeline("word-count", "dev", base, edited(lambda r: None), options),
    ]
    return build_report(BASE, HEAD, "argo", ["dev", "prod"], pipelines)


def scaled_report() -> DiffReport:
    """word-count's streams app scaled to three replicas: a change without a blocking risk."""

    def scale(head: PipelineRender) -> None:
        component(head, "word-counter").config["values"]["replicaCount"] = 3
        manifest(head, "Deployment", "word-count-word-counter")["spec"]["replicas"] = 3

    diff = diff_pipeline("word-count", "dev", recorded_render(), edited(scale), DiffOptions())
    return build_report(BASE, HEAD, "manifest", ["dev"], [diff])
