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


def linked(links: dict[str, str], files: frozenset[str] = BASE_FILES) -> RepoLayout:
    """The base files plus `links` (path → target, as git keeps a symbolic link)."""
    return RepoLayout(files | set(links), pipeline_base_dir="pipelines", links=links)


FILE_LINK = {"pipelines/words-link/pipeline.yaml": "../word-count/pipeline.yaml"}
FOLDER_LINK = {"pipelines/words-folder": "word-count"}
CHAIN = {"pipelines/words-chain": "words-folder", **FOLDER_LINK}


@pytest.mark.parametrize(
    ("links", "path", "expected"),
    [
        (FILE_LINK, "pipelines/word-count/pipeline.yaml", {"word-count", "words-link"}),
        (FOLDER_LINK, "pipelines/word-count/pipeline.yaml", {"word-count", "words-folder"}),
        (FOLDER_LINK, "pipelines/word-count/pipeline_dev.yaml", {"word-count", "words-folder"}),  # rendering dev
        (CHAIN, "pipelines/word-count/pipeline.yaml", {"word-count", "words-folder", "words-chain"}),
        # kpops resolves a pipeline's path before it walks up for defaults: the target's folder's defaults count
        (FILE_LINK, "pipelines/team-a/defaults.yaml", {"team-a-orders", "team-a-payments"}),
        (
            {"pipelines/team-b/words/pipeline.yaml": "../../team-a/orders/pipeline.yaml"},
            "pipelines/team-a/defaults.yaml",
            {"team-a-orders", "team-a-payments", "team-b-words"},
        ),
        (
            {"pipelines/team-a/orders/defaults.yaml": "../../shared/orders.yaml"},
            "pipelines/shared/orders.yaml",
            {"team-a-orders"},
        ),
        ({"config.yaml": "configs/common.yaml"}, "configs/common.yaml", ALL),
        # leaving the repository is never followed: the checkout leaves such a link out
        ({"pipelines/words-link/pipeline.yaml": "/etc/passwd"}, "pipelines/word-count/pipeline.yaml", {"word-count"}),
        ({"pipelines/up": "../.."}, "pipelines/word-count/pipeline.yaml", {"word-count"}),
    ],
)
def test_a_change_to_a_link_target_affects_every_pipeline_reading_through_it(
    links: dict[str, str], path: str, expected: set[str]
) -> None:
    files = BASE_FILES | {"configs/common.yaml", "pipelines/shared/orders.yaml"}
    with_links = linked(links, files)
    result = affected_pipelines(with_links, with_links, [path], "dev" if "_dev" in path else None)
    assert set(result.changed) == expected


def test_a_link_added_removed_or_pointed_elsewhere_is_a_change() -> None:
    plain = linked({})
    folder = linked(FOLDER_LINK)
    added = affected_pipelines(plain, folder, ["pipelines/words-folder"])
    assert added == AffectedPipelines(added=frozenset({"words-folder"}))
    removed = affected_pipelines(folder, plain, ["pipelines/words-folder"])
    assert removed == AffectedPipelines(removed=frozenset({"words-folder"}))
    elsewhere = linked({"pipelines/words-folder": "team-a/orders"})
    assert affected_pipelines(folder, elsewhere, ["pipelines/words-folder"]).changed == {"words-folder"}
    retargeted = linked({"pipelines/words-link/pipeline.yaml": "../team-a/orders/pipeline.yaml"})
    assert affected_pipelines(linked(FILE_LINK), retargeted, list(FILE_LINK)).changed == {"words-link"}


def test_links_that_lead_nowhere_or_in_a_circle_show_no_pipeline() -> None:
    layout = linked(
        {
            "pipelines/loop": "..",  # the folder above, shown inside itself without end: not entered
            "pipelines/a": "b",
            "pipelines/b": "a",
            "pipelines/missing": "nowhere",
            "pipelines/through-a-file": "word-count/pipeline.yaml/..",
        }
    )
    assert set(layout.pipelines) == ALL


def test_a_linked_pipeline_is_read_at_its_target() -> None:
    layout = linked(FILE_LINK)
    pipeline = layout.pipelines["words-link"]
    assert layout.real_path(pipeline.pipeline_file) == "pipelines/word-count/pipeline.yaml"
    assert layout.input_files(pipeline, "dev") == [
        "config.yaml",
        "config_dev.yaml",
        "pipelines/words-link/pipeline.yaml",  # pipeline_dev.yaml is looked for beside the link, as kpops does
        "pipelines/defaults.yaml",
    ]
    assert layout.git_paths(["pipelines/words-link/pipeline.yaml"]) == [
        "pipelines/word-count/pipeline.yaml",
        "pipelines/words-link/pipeline.yaml",
    ]
