"""Real kpops releases for the tests: environments built from the package index once and kept between runs,
the word-count repository in each release's dialect, and charts served under the versions each release asks for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from kpops_bot.engine.dialect import HELM_3_VERSION, Dialect
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.helm.mirrors import MIRRORS_ENV, ChartMirrors
from kpops_bot.versions.environments import EnvironmentStore, KpopsEnvironment
from kpops_bot.versions.index import bot_kpops_version
from testbed.repos import CHARTS, FIXTURES, MIRROR_FROM

KPOPS_EXAMPLES = FIXTURES / "kpops-examples"
# One release per major; 12 is the bot's own kpops (it needs no environment of its own).
RELEASES = ["8.1.4", "9.4.1", "10.9.0", "11.0.0", bot_kpops_version()]
CHART_VERSIONS = ["3.1.0", "3.6.1"]  # kpops-examples asks for 3.1.0, fixtures/charts are 3.6.1
_CLI_WIDTH = 1000


def environments_folder() -> Path:
    """Kept between runs (CI caches it): building the four environments takes about 10 s with uv."""
    configured = os.environ.get("KPOPS_BOT_TEST_ENVS")
    return Path(configured) if configured else Path.home() / ".cache" / "kpops-bot-test-envs"


def environment(store: EnvironmentStore, release: str) -> KpopsEnvironment | None:
    if release == bot_kpops_version():
        return None
    return store.get(Version(release), SpecifierSet(">=3.10"))


def word_count_checkout(target: Path, release: str) -> Path:
    """kpops-examples' word-count, migrated as far as `release` needs: kpops 9+ render topics for Strimzi."""
    shutil.copytree(KPOPS_EXAMPLES, target, ignore=shutil.ignore_patterns("README.md"))
    if Dialect.of(release).has_operation_modes:
        config = yaml.safe_load((target / "config.yaml").read_text())
        config["strimzi_topic"] = {"label": {"strimzi.io/cluster": "kafka"}}
        (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def versioned_charts(target: Path) -> Path:
    """fixtures/charts under every version in CHART_VERSIONS."""
    for version in CHART_VERSIONS:
        for chart in CHARTS.iterdir():
            copy = target / version / chart.name
            shutil.copytree(chart, copy)
            manifest = yaml.safe_load((copy / "Chart.yaml").read_text())
            manifest.update(version=version, appVersion=version)
            (copy / "Chart.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return target


def helm_shim(folder: Path) -> Path:
    """A `helm` for the plain kpops CLI: the bot's built-in helm, answering `version` as Helm 3 for kpops 8 and 9."""
    folder.mkdir(parents=True, exist_ok=True)
    helm = folder / "helm"
    builtin = f"{sys.executable} -c 'from kpops_bot.helm.executable import main; main()' \"$@\""
    helm.write_text(
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "version --short" ] && [ -n "$HELM_AS_3" ]; then echo {HELM_3_VERSION}; exit 0; fi\n'
        f"exec {builtin}\n"
    )
    helm.chmod(0o755)
    return folder


def kpops_cli(
    release: str, env: KpopsEnvironment | None, checkout: Path, helm_bin: Path, server: ChartServer, *args: str
) -> list[dict[str, object]]:
    """What `kpops ARGS word-count/pipeline.yaml` of `release` prints, as YAML documents."""
    bin_folder = env.root / "bin" if env else Path(sys.executable).parent
    variables = {
        "PATH": f"{helm_bin}:{bin_folder}:/usr/bin:/bin",
        "HOME": str(checkout.parent / "home"),
        "NO_COLOR": "1",
        "NAMESPACE": "kpops",
        "COLUMNS": str(_CLI_WIDTH),
        MIRRORS_ENV: ChartMirrors({MIRROR_FROM: server.url}).to_json(),
    }
    if Dialect.of(release).accepts_only_helm_3:
        variables["HELM_AS_3"] = "1"
    completed = subprocess.run(
        [str(bin_folder / "kpops"), *args, "word-count/pipeline.yaml"],
        cwd=checkout,
        env=variables,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert all(len(line) < _CLI_WIDTH for line in completed.stdout.splitlines()), "the CLI would truncate"
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc]
