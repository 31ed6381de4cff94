"""Mapping a component, a field or a value back to the YAML line that set it: plain texts, no kpops."""

from __future__ import annotations

from kpops_bot.diff.model import SourceLocation
from kpops_bot.sources import PipelineSources, SourceFile, SourceFiles, config_line

PIPELINE = """\
- type: streams-app
  name: counter
  to:
    topics:
      ${output_topic_name}:
        type: output
        replication_factor: 3
  values:
    image: ${DOCKER_REGISTRY}/counter
- type: producer-app
  name: producer
  enabled: false
"""
PIPELINE_DEV = """\
- type: streams-app
  name: counter
  values:
    replicaCount: 4
"""
DEFAULTS = """\
kafka-app:
  values:
    kafka:
      bootstrapServers: broker:9092
streams-app:
  to:
    topics:
      ${error_topic_name}:
        type: error
        partitions_count: 1
"""
SOURCES = PipelineSources(
    pipeline_files=[SourceFile("p/pipeline_dev.yaml", PIPELINE_DEV), SourceFile("p/pipeline.yaml", PIPELINE)],
    defaults_files=[SourceFile("defaults.yaml", DEFAULTS)],
)


def at(file: str, line: int) -> SourceLocation:
    return SourceLocation(file=file, line=line)


def test_a_field_is_found_where_it_is_set_most_precisely() -> None:
    topic = ("to", "topics", "word-count-counter-topic", "replication_factor")
    assert SOURCES.locate("counter", "streams-app", topic) == at("p/pipeline.yaml", 7)
    error_topic = ("to", "topics", "word-count-counter-error", "partitions_count")
    assert SOURCES.locate("counter", "streams-app", error_topic) == at("defaults.yaml", 10)
    brokers = ("values", "kafka", "bootstrapServers")
    assert SOURCES.locate("counter", "streams-app", brokers) == at("defaults.yaml", 4)  # an ancestor type's section
    assert SOURCES.locate("counter", "streams-app", ("values", "replicaCount")) == at("p/pipeline_dev.yaml", 4)


def test_a_value_and_a_component_without_the_field() -> None:
    assert SOURCES.locate("counter", "streams-app", (), "${DOCKER_REGISTRY}") == at("p/pipeline.yaml", 9)
    assert SOURCES.locate("producer", "producer-app", ("values", "image")) == at("p/pipeline.yaml", 10)
    assert SOURCES.locate("gone", None) == at("p/pipeline.yaml", 1)


def test_disabled_components_and_broken_files() -> None:
    assert SOURCES.disabled() == [("producer", "producer-app", at("p/pipeline.yaml", 12))]
    by_defaults = PipelineSources(
        pipeline_files=[SourceFile("p/pipeline.yaml", PIPELINE)],
        defaults_files=[SourceFile("defaults.yaml", "kafka-app:\n  enabled: false\nproducer-app:\n  enabled: true\n")],
    )
    assert by_defaults.disabled() == [  # the entry's own `enabled` wins over its type's defaults
        ("counter", "streams-app", at("defaults.yaml", 2)),
        ("producer", "producer-app", at("p/pipeline.yaml", 12)),
    ]
    broken = PipelineSources(pipeline_files=[SourceFile("p/pipeline.yaml", "- name: [\n")])
    assert broken.disabled() == []
    assert broken.locate("x", "streams-app") == at("p/pipeline.yaml", 1)
    assert config_line("a:\n  b:\n    c: 1\n", ["a", "b", "x"]) == 2
    assert config_line("a: [\n", ["a"]) is None


def test_each_file_is_read_and_composed_once_per_run() -> None:
    """A root defaults change reaches every pipeline: their sources share the defaults file, composed once."""
    texts = {
        "defaults.yaml": "streams-app:\n  values:\n    replicaCount: 1\n",
        "a/pipeline.yaml": "- type: streams-app\n  name: a\n",
        "b/pipeline.yaml": "- type: streams-app\n  name: b\n",
    }
    reads: list[str] = []

    def read(path: str) -> str | None:
        reads.append(path)
        return texts.get(path)

    files = SourceFiles(read)
    first = PipelineSources(files(["a/pipeline.yaml"]), files(["defaults.yaml", "a/defaults.yaml"]))
    second = PipelineSources(files(["b/pipeline.yaml"]), files(["defaults.yaml", "b/defaults.yaml"]))
    assert first.defaults_files[0] is second.defaults_files[0]
    assert sorted(reads) == sorted(set(reads)), "each path read once, a missing one too"
    assert first.locate("a", "streams-app", ["values", "replicaCount"]) == SourceLocation(file="defaults.yaml", line=3)
    assert second.locate("b", "streams-app", ["values", "replicaCount"]) == SourceLocation(file="defaults.yaml", line=3)
    assert first.defaults_files[0].root is second.defaults_files[0].root


def test_files_that_cannot_name_enabled_are_not_composed_to_find_disabled_components() -> None:
    plain = PipelineSources(
        pipeline_files=[SourceFile("p/pipeline.yaml", PIPELINE_DEV)], defaults_files=[SourceFile("d.yaml", DEFAULTS)]
    )
    assert plain.disabled() == []
    assert all("root" not in source.__dict__ for source in (*plain.pipeline_files, *plain.defaults_files))
    escaped = PIPELINE.replace("  enabled: false", '  "enab\\x6ced": false')
    spelt = PipelineSources(pipeline_files=[SourceFile("p/pipeline.yaml", escaped)])
    assert spelt.disabled() == [("producer", "producer-app", at("p/pipeline.yaml", 12))], "an escaped key counts"
