from __future__ import annotations

import copy

from kpops_bot.diff.compute import DiffOptions, diff_pipeline
from kpops_bot.diff.model import Status, Topology
from kpops_bot.masking import Masker
from kpops_bot.model.render import PipelineRender
from tests.support.renders import component, manifest, recorded_render


def labelled(topology: Topology) -> tuple[dict[str, Status], set[tuple[str, str]]]:
    labels = {node.id: node.label for node in topology.nodes}
    statuses = {node.label: node.status for node in topology.nodes}
    edges = {(labels[edge.source], labels[edge.target]) for edge in topology.edges}
    return statuses, edges


def test_word_count_flow_with_the_changed_topic_highlighted() -> None:
    base = recorded_render()
    head = PipelineRender.model_validate(copy.deepcopy(base.model_dump()))
    component(head, "word-counter").config["to"]["topics"]["word-count-word-counter-topic"]["partitions_count"] = 1
    manifest(head, "KafkaTopic", "word-count-word-counter-topic")["spec"]["partitions"] = 1
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    assert diff.topology is not None
    statuses, edges = labelled(diff.topology)
    assert edges == {
        ("data-producer", "word-count-data-producer-topic"),
        ("word-count-data-producer-topic", "word-counter"),
        ("word-counter", "word-count-word-counter-topic"),
        ("word-counter", "word-count-word-counter-error"),
        ("word-count-word-counter-topic", "redis-sink-connector"),
    }
    assert statuses == {
        "data-producer": Status.UNCHANGED,
        "word-counter": Status.CHANGED,
        "redis-sink-connector": Status.UNCHANGED,
        "word-count-data-producer-topic": Status.UNCHANGED,
        "word-count-word-counter-topic": Status.CHANGED,
        "word-count-word-counter-error": Status.UNCHANGED,
    }


def test_removed_component_and_its_topic_stay_in_the_picture_as_removed() -> None:
    base = recorded_render()
    head = PipelineRender.model_validate(copy.deepcopy(base.model_dump()))
    head.components = [c for c in head.components if c.name != "redis-sink-connector"]
    diff = diff_pipeline("word-count", None, base, head, DiffOptions())
    assert diff.topology is not None
    statuses, edges = labelled(diff.topology)
    assert statuses["redis-sink-connector"] is Status.REMOVED
    assert ("word-count-word-counter-topic", "redis-sink-connector") in edges


def test_labels_are_masked_like_everything_else() -> None:
    base = recorded_render()
    head = PipelineRender.model_validate(copy.deepcopy(base.model_dump()))
    component(head, "word-counter").config["values"]["kafka"]["outputTopic"] = "topic-with-held-secret-1"
    options = DiffOptions(masker=Masker.create(known_secrets=["held-secret-1"]))
    diff = diff_pipeline("word-count", None, base, head, options)
    assert diff.topology is not None
    assert "topic-with-***" in {node.label for node in diff.topology.nodes}
    assert "held-secret-1" not in diff.model_dump_json()
