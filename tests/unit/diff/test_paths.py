from __future__ import annotations

from kpops_bot.diff.paths import FieldFilter, format_path


def test_paths_read_like_yaml_keys() -> None:
    assert format_path(["values", "replicaCount"]) == "values.replicaCount"
    assert format_path(["config", "tasks.max"]) == 'config["tasks.max"]'
    assert format_path(["spec", "containers", 0, "image"]) == "spec.containers[0].image"
    assert format_path(["metadata", "labels", "helm.sh/chart"]) == 'metadata.labels["helm.sh/chart"]'


def test_default_filter_drops_chart_labels_and_checksums_only() -> None:
    document = {
        "metadata": {
            "labels": {"helm.sh/chart": "streams-app-3.6.1", "app": "x"},
            "annotations": {"checksum/config": "abc", "owner": "team"},
        },
        "spec": {"template": {"metadata": {"annotations": {"checksum/secret": "def"}}}},
    }
    assert FieldFilter().apply(document) == {
        "metadata": {"labels": {"app": "x"}, "annotations": {"owner": "team"}},
        "spec": {"template": {"metadata": {"annotations": {}}}},
    }


def test_patterns_are_configurable_and_star_is_the_only_wildcard() -> None:
    only_images = FieldFilter(["spec.containers[*].image"])
    document = {"spec": {"containers": [{"image": "a", "name": "n"}]}, "x[1]": 1}
    assert only_images.apply(document) == {"spec": {"containers": [{"name": "n"}]}, "x[1]": 1}
    assert FieldFilter([]).apply(document) == document
