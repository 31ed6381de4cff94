"""The file rules of change detection hold for every kpops release the bot renders with, 8.1.4 to 12.

Per release, a pipeline with every kind of kpops file (config and defaults of its environment and of another,
defaults from its folder up to `pipeline_base_dir` and above it, an environment-specific pipeline file, a
`.env`) is rendered by that release; what the render opened (`engine/reads.py`) must be among the files the rules
give for it, and changing the files the rules call irrelevant must not change its render.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kpops_bot.changes import affected_pipelines
from kpops_bot.engine.pool import RenderPool, RenderRequest
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.model.render import PipelineRender
from kpops_bot.pipelines import RepoLayout
from kpops_bot.versions.environments import EnvironmentStore
from testbed.kpops_versions import (
    RELEASES,
    environment,
    environments_folder,
    word_count_checkout,
)

pytestmark = pytest.mark.kpops  # real kpops releases render

PIPELINE_FOLDER = "pipelines/team/word-count"
NAME = "team-word-count"
ENVIRONMENT = "dev"
APP_ENTRY = "- type: streams-app\n  name: word-count-app\n  values:\n"  # of an environment's pipeline file
# Files the rules call irrelevant for the `dev` environment, each written so that kpops reading it would show.
IRRELEVANT = {
    "defaults.yaml": "streams-app:\n  values:\n    fromFile: {value}\n",  # above pipeline_base_dir
    "pipelines/defaults_prod.yaml": "streams-app:\n  values:\n    fromFile: {value}\n",
    f"{PIPELINE_FOLDER}/pipeline_prod.yaml": APP_ENTRY + "    fromFile: {value}\n",
    "config_prod.yaml": 'kafka_brokers: "http://{value}:9092"\n',
    ".env": "KPOPS_KAFKA_BROKERS=http://{value}:9092\n",
}


@pytest.fixture(scope="module")
def store() -> EnvironmentStore:
    return EnvironmentStore(environments_folder())


def every_kind_of_file(target: Path, release: str) -> Path:
    """kpops-examples' word-count below `pipelines/team/`, with files for `dev`, for `prod` and above the base."""
    checkout = word_count_checkout(target, release)
    folder = checkout / PIPELINE_FOLDER
    folder.parent.mkdir(parents=True)
    shutil.move(checkout / "word-count", folder)
    config = yaml.safe_load((checkout / "config.yaml").read_text())
    config["pipeline_base_dir"] = "pipelines"
    (checkout / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (checkout / "config_dev.yaml").write_text('kafka_brokers: "http://dev-kafka:9092"\n')
    (checkout / "pipelines/defaults.yaml").write_text("streams-app:\n  values:\n    fromBase: base\n")
    (checkout / "pipelines/defaults_dev.yaml").write_text("streams-app:\n  values:\n    fromDev: dev\n")
    (folder / "pipeline_dev.yaml").write_text(
        "- type: streams-app\n  name: word-count-app\n  values:\n    replicaCount: 2\n"
    )
    write_irrelevant(checkout, "before")
    return checkout


def write_irrelevant(checkout: Path, value: str) -> None:
    for path, text in IRRELEVANT.items():
        (checkout / path).write_text(text.format(value=value))


def layout(checkout: Path) -> RepoLayout:
    files = [str(path.relative_to(checkout)) for path in checkout.rglob("*") if path.is_file()]
    return RepoLayout.of(files, lambda name: (checkout / name).read_text(), environment=ENVIRONMENT)


def render(pool: RenderPool, checkout: Path) -> PipelineRender:
    request = RenderRequest(NAME, f"{PIPELINE_FOLDER}/pipeline.yaml", checkout, "HEAD", environment=ENVIRONMENT)
    result = pool.render(request)
    assert result.ok, result.error
    return result


@pytest.mark.parametrize("release", RELEASES)
def test_what_each_release_reads_is_what_the_rules_say(
    release: str, store: EnvironmentStore, versioned_engine_settings: EngineSettings, tmp_path: Path
) -> None:
    checkout = every_kind_of_file(tmp_path / "checkout", release)
    before = layout(checkout)
    with RenderPool(versioned_engine_settings, checkouts=[tmp_path], kpops=environment(store, release)) as pool:
        first = render(pool, checkout)
        write_irrelevant(checkout, "after")
        second = render(pool, checkout)
    assert first.kpops_version == release
    inputs = set(before.input_files(before.pipelines[NAME], ENVIRONMENT))
    assert first.reads is not None
    assert set(first.reads.files) <= inputs, "the release read a file the rules do not give"
    assert inputs - set(first.reads.files) == set()  # and the rules give no file it does not read
    assert (first.reads.folders, first.reads.unobserved) == ([], [])
    # The charts it asked helm for, as paths a chart kept in the repository would have (the chart-folder rule).
    assert first.reads.trees == [f"bakdata-streams-bootstrap/{chart}" for chart in ("producer-app", "streams-app")]
    app = next(component for component in first.components if component.name == "word-count-app")
    values = app.config["values"]
    assert (values["fromBase"], values["fromDev"], values["replicaCount"]) == ("base", "dev", 2)
    assert values["kafka"]["bootstrapServers"] == "http://dev-kafka:9092"
    assert "fromFile" not in values
    # The irrelevant files changed: the rules say no pipeline is affected, and the render is the same.
    assert not affected_pipelines(before, layout(checkout), IRRELEVANT, ENVIRONMENT)
    assert second.model_dump() == first.model_dump()
