from __future__ import annotations

import pytest

from kpops_bot.pipelines import Pipeline, RepoLayout, normalise_dir, read_pipeline_base_dir

FILES = frozenset(
    {
        "config.yaml",
        "config_dev.yaml",
        "pipelines/defaults.yaml",
        "pipelines/defaults_prod.yaml",
        "pipelines/pipeline.yaml",
        "pipelines/word-count/pipeline.yaml",
        "pipelines/word-count/pipeline_dev.yaml",
        "pipelines/team-a/defaults.yaml",
        "pipelines/team-a/orders/pipeline.yaml",
        "pipelines/team-a/payments/defaults.yaml",
        "pipelines/team-a/payments/pipeline.yaml",
        "other/pipeline.yaml",
        "defaults.yaml",
    }
)
LAYOUT = RepoLayout(FILES, pipeline_base_dir="pipelines")


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("./pipelines/", "pipelines"), ("", "."), (".", "."), ("a//b/./c", "a/b/c"), ("/abs/x", "abs/x")],
)
def test_normalise_dir(raw: str, normalised: str) -> None:
    assert normalise_dir(raw) == normalised


def test_pipelines_are_named_by_their_folder_below_the_base_dir() -> None:
    assert LAYOUT.pipelines == {
        "team-a-orders": Pipeline("team-a-orders", "pipelines/team-a/orders"),
        "team-a-payments": Pipeline("team-a-payments", "pipelines/team-a/payments"),
        "word-count": Pipeline("word-count", "pipelines/word-count"),
    }


def test_a_pipeline_in_the_base_dir_itself_or_outside_it_is_no_pipeline() -> None:
    folders = {pipeline.folder for pipeline in LAYOUT.pipelines.values()}
    assert "pipelines" not in folders
    assert "other" not in folders


def test_root_base_dir_sees_every_pipeline_folder() -> None:
    layout = RepoLayout(FILES, pipeline_base_dir=".")
    assert set(layout.pipelines) == {
        "pipelines",
        "pipelines-word-count",
        "pipelines-team-a-orders",
        "pipelines-team-a-payments",
        "other",
    }


def test_defaults_chain_runs_from_the_pipeline_up_to_the_base_dir_env_file_first() -> None:
    payments = LAYOUT.pipelines["team-a-payments"]
    assert LAYOUT.defaults_files(payments, "prod") == [
        "pipelines/team-a/payments/defaults.yaml",
        "pipelines/team-a/defaults.yaml",
        "pipelines/defaults_prod.yaml",
        "pipelines/defaults.yaml",
    ]
    assert "defaults.yaml" not in LAYOUT.defaults_files(payments, None)


def test_input_files_in_kpops_read_order() -> None:
    word_count = LAYOUT.pipelines["word-count"]
    assert LAYOUT.input_files(word_count, "dev") == [
        "config.yaml",
        "config_dev.yaml",
        "pipelines/word-count/pipeline.yaml",
        "pipelines/word-count/pipeline_dev.yaml",
        "pipelines/defaults.yaml",
    ]


def test_base_dir_comes_from_config_and_the_environment_file_wins() -> None:
    files = {"config.yaml": "pipeline_base_dir: ./pipelines/\n", "config_dev.yaml": "pipeline_base_dir: dev-pipes\n"}
    assert read_pipeline_base_dir(files.get, ".", None) == "pipelines"
    assert read_pipeline_base_dir(files.get, ".", "dev") == "dev-pipes"
    assert read_pipeline_base_dir(files.get, ".", "prod") == "pipelines"


def test_unreadable_config_falls_back_to_the_root() -> None:
    assert read_pipeline_base_dir({"config.yaml": "pipeline_base_dir: [\n"}.get, ".", None) == "."
    assert read_pipeline_base_dir({}.get, ".", None) == "."


def test_config_in_a_subfolder() -> None:
    files = {"deploy/config.yaml": "pipeline_base_dir: deploy/pipelines\n"}
    layout = RepoLayout.of(["deploy/config.yaml", "deploy/pipelines/a/pipeline.yaml"], files.get, "deploy/")
    assert layout.config_dir == "deploy"
    assert list(layout.pipelines) == ["a"]
    assert layout.config_files(None) == ["deploy/config.yaml"]


def test_environments_are_the_suffixes_of_kpops_files() -> None:
    layout = RepoLayout(
        frozenset(
            {
                "config.yaml",
                "config_prod.yaml",
                "pipelines/defaults_staging.yaml",
                "pipelines/a/pipeline_dev.yaml",
                "pipelines/a/values_other.yaml",  # not a kpops file
                "pipelines/a/pipeline_.yaml",  # no name after the underscore
                "docs/config_old.yml",  # kpops reads .yaml only
            }
        )
    )
    assert layout.environments == ["dev", "prod", "staging"]
