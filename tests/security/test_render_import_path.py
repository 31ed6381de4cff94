"""A render's import path holds kpops' environment, the render child and the repository, not the bot's checkout.

With an editable install (what `scripts/setup` makes) the bot's checkout was on the fork server's `sys.path`, and
with it the bot's own `tests` package: a deployment repository's `tests` package was shadowed (`No module named
'tests.pipeline'` on kpops' own test repository), and a custom component could import the bot's test code. Here
the repository's custom component imports `tests.marker`, which only the repository has.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpops_bot.engine.pool import RenderPool
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.engine.targets import render_revision
from kpops_bot.model.render import RenderSpec
from kpops_bot.workspace import Workspace
from testbed.repos import GitRepo

COMPONENT = """\
import json
import sys

import tests.marker
from kpops.components.streams_bootstrap.producer.model import ProducerAppValues
from kpops.components.streams_bootstrap.producer.producer_app import ProducerApp

SEEN = json.dumps({"marker": tests.marker.WHO, "path": sys.path})


class ImporterValues(ProducerAppValues):
    seen: str = SEEN


class Importer(ProducerApp):
    values: ImporterValues
"""


@pytest.fixture(scope="module")
def pool(engine_settings: EngineSettings) -> Iterator[RenderPool]:
    with RenderPool(engine_settings) as pool:
        yield pool


def test_a_repositorys_tests_package_is_its_own(
    pool: RenderPool, workspace: Workspace, deployment_repo: GitRepo
) -> None:
    deployment_repo.write("tests/__init__.py", "")
    deployment_repo.write("tests/marker.py", 'WHO = "the deployment repository"\n')
    deployment_repo.write("kpops/components/importer/__init__.py", COMPONENT)
    deployment_repo.write(
        "pipelines/importer/pipeline.yaml",
        '- type: importer\n  name: importer\n  values:\n    image: example/importer\n    imageTag: "1"\n',
    )
    deployment_repo.commit("a custom component that imports the repository's tests package")
    [result] = render_revision(workspace, pool, str(deployment_repo.path), "HEAD", ["importer"], RenderSpec())
    assert result.error is None, result.error
    [component] = result.components
    seen = json.loads(component.config["values"]["seen"])
    assert seen["marker"] == "the deployment repository"
    bot_checkout = str(Path(__file__).resolve().parents[2])
    assert bot_checkout not in seen["path"]
