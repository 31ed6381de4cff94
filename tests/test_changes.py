"""Change detection is pure: every rule of kpops' file reading, one case each, on plain data."""

from __future__ import annotations

import pytest

from kpops_bot.changes import AffectedPipelines, affected_pipelines, read_by_render
from kpops_bot.pipelines import RepoLayout

BASE_FILES = frozenset(
    {
        "config.yaml",
        "config_dev.yaml",
        "README.md",
        "kpops/components/batch_producer/__init__.py",
        "pipelines/defaults.yaml",
        "pipelines/defaults_prod.yaml",
        "pipelines/word-count/pipeline.yaml",
        "pipelines/word-count/pipeline_dev.yaml",
        "pipelines/word-count/README.md",
        "pipelines/team-a/defaults.yaml",
        "pipelines/team-a/orders/pipeline.yaml",
        "pipelines/team-a/payments/defaults.yaml",
        "pipelines/team-a/payments/pipeline.yaml",
        "pipelines/team-b/analytics/clickstream/pipeline.yaml",
        "defaults.yaml",
    }
)
ALL = {"word-count", "team-a-orders", "team-a-payments", "team-b-analytics-clickstream"}


def layout(files: frozenset[str] = BASE_FILES, base_dir: str = "pipelines") -> RepoLayout:
    return RepoLayout(files, pipeline_base_dir=base_dir)


def changed_names(paths: list[str], environment: str | None = None) -> set[str]:
    result = affected_pipelines(layout(), layout(), paths, environment)
    assert not result.added and not result.removed
    return set(result.changed)


@pytest.mark.parametrize(
    ("paths", "environment", "expected"),
    [
        (["pipelines/word-count/pipeline.yaml"], None, {"word-count"}),
        (["pipelines/word-count/pipeline_dev.yaml"], "dev", {"word-count"}),
        (["pipelines/word-count/pipeline_dev.yaml"], "prod", set()),
        (["pipelines/word-count/pipeline_dev.yaml"], None, set()),
        (["pipelines/defaults.yaml"], None, ALL),
        (["pipelines/defaults_prod.yaml"], "prod", ALL),
        (["pipelines/defaults_prod.yaml"], "dev", set()),
        (["pipelines/team-a/defaults.yaml"], None, {"team-a-orders", "team-a-payments"}),
        (["pipelines/team-a/payments/defaults.yaml"], None, {"team-a-payments"}),
        (["pipelines/team-b/defaults.yaml"], None, {"team-b-analytics-clickstream"}),
        (["defaults.yaml"], None, set()),
        (["config.yaml"], None, ALL),
        (["config_dev.yaml"], "dev", ALL),
        (["config_dev.yaml"], "prod", set()),
        (["pipelines/config.yaml"], None, set()),
        (["kpops/components/batch_producer/__init__.py"], None, ALL),
        (["tools/helper.py"], None, ALL),
        (["README.md", "pipelines/word-count/README.md"], None, set()),
        (
            ["pipelines/word-count/pipeline.yaml", "pipelines/team-a/orders/pipeline.yaml"],
            None,
            {"word-count", "team-a-orders"},
        ),
    ],
)
def test_rules(paths: list[str], environment: str | None, expected: set[str]) -> None:
    assert changed_names(paths, environment) == expected


def test_a_new_pipeline_is_added() -> None:
    head = layout(BASE_FILES | {"pipelines/team-c/pipeline.yaml"})
    result = affected_pipelines(layout(), head, ["pipelines/team-c/pipeline.yaml"])
    assert result == AffectedPipelines(added=frozenset({"team-c"}))


def test_a_deleted_pipeline_is_removed() -> None:
    head = layout(BASE_FILES - {"pipelines/word-count/pipeline.yaml", "pipelines/word-count/pipeline_dev.yaml"})
    result = affected_pipelines(
        layout(), head, ["pipelines/word-count/pipeline.yaml", "pipelines/word-count/pipeline_dev.yaml"]
    )
    assert result == AffectedPipelines(removed=frozenset({"word-count"}))


def test_a_moved_folder_removes_and_adds_every_pipeline_below_it() -> None:
    moved = {path.replace("pipelines/team-a/", "pipelines/sales/") for path in BASE_FILES}
    changed = sorted(BASE_FILES ^ moved)
    result = affected_pipelines(layout(), layout(frozenset(moved)), changed)
    assert result.removed == {"team-a-orders", "team-a-payments"}
    assert result.added == {"sales-orders", "sales-payments"}
    assert not result.changed


def test_defaults_added_at_head_reach_the_pipelines_below() -> None:
    head = layout(BASE_FILES | {"pipelines/team-b/analytics/defaults.yaml"})
    result = affected_pipelines(layout(), head, ["pipelines/team-b/analytics/defaults.yaml"])
    assert result.changed == {"team-b-analytics-clickstream"}


def test_a_changed_base_dir_renames_every_pipeline() -> None:
    head = layout(base_dir="pipelines/team-a")
    result = affected_pipelines(layout(), head, ["config.yaml"])
    assert result.added == {"orders", "payments"}
    assert result.removed == ALL
    assert not result.changed


def test_no_change_affects_nothing() -> None:
    result = affected_pipelines(layout(), layout(), [])
    assert not result
    assert result.all == []


def test_every_name_is_in_exactly_one_set() -> None:
    head = layout(BASE_FILES | {"pipelines/new/pipeline.yaml"})
    result = affected_pipelines(layout(), head, ["config.yaml", "pipelines/new/pipeline.yaml"])
    assert result.added == {"new"}
    assert result.changed == ALL
    assert result.all == sorted(ALL | {"new"})


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["data/tags.csv"], True),  # a file the render opened
        (["data/other.csv"], False),
        (["charts/app/templates/job.yaml"], True),  # inside a chart it loaded
        (["charts/other/Chart.yaml"], False),
        (["README.md"], False),  # changed, but the listed root keeps its entries
        (["NEW.md"], True),  # a new entry of the listed root
        (["kpops/new/module.py"], True),  # a new folder in the listed kpops/
        (["pipelines/NOTES.md"], False),  # pipelines/ was not listed
    ],
)
def test_a_change_reaches_a_render_through_what_it_read(paths: list[str], expected: bool) -> None:
    base = layout(BASE_FILES | {"data/tags.csv", "data/other.csv"})
    head = layout(BASE_FILES | {"data/tags.csv", "data/other.csv", "NEW.md", "kpops/new/module.py"})
    files = ["config.yaml", "data/tags.csv"]
    assert read_by_render(base, head, paths, files, folders=[".", "kpops"], trees=["charts/app"]) is expected


def test_a_local_chart_changed_affects_every_pipeline() -> None:
    with_chart = layout(BASE_FILES | {"charts/app/Chart.yaml", "charts/app/templates/deployment.yaml"})
    result = affected_pipelines(with_chart, with_chart, ["charts/app/templates/deployment.yaml"])
    assert set(result.changed) == ALL
    removed_chart = affected_pipelines(with_chart, layout(), ["charts/app/Chart.yaml"])
    assert set(removed_chart.changed) == ALL
    assert not affected_pipelines(layout(), layout(), ["charts/README.md"])
