"""`kpops-bot charts serve` of a published chart repository (an index.yaml beside its archives, as a gh-pages branch
holds them): served as it is, with urls that lead to this server and the archives' digests intact."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from kpops_bot.helm.chart_server import ChartServer, NoChartsError, package_charts
from testbed.repos import FIXTURES

PUBLISHED_AT = "https://bakdata.github.io/streams-bootstrap/"


def _published(folder: Path) -> Path:
    """The example charts as their publisher's gh-pages branch holds them: absolute urls to the publisher's site,
    plus one version whose archive the branch no longer has."""
    package_charts(FIXTURES / "charts", folder, PUBLISHED_AT)
    index = yaml.safe_load((folder / "index.yaml").read_text())
    gone = {**index["entries"]["streams-app"][0], "version": "0.0.1", "urls": [f"{PUBLISHED_AT}streams-app-0.0.1.tgz"]}
    index["entries"]["streams-app"].append(gone)
    (folder / "index.yaml").write_text(yaml.safe_dump(index))
    return folder


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def test_a_published_repository_is_served_with_its_urls_leading_here_and_its_digests_intact(tmp_path: Path) -> None:
    published = _published(tmp_path / "gh-pages")
    with ChartServer(published) as server:
        index = yaml.safe_load(_get(server.url + "index.yaml"))
        assert server.missing == ["streams-app 0.0.1"]
        assert set(index["entries"]) == {
            "producer-app",
            "producer-app-cleanup-job",
            "streams-app",
            "streams-app-cleanup-job",
        }
        for versions in index["entries"].values():
            for version in versions:
                [url] = version["urls"]
                assert url.startswith(server.url)
                assert hashlib.sha256(_get(url)).hexdigest() == version["digest"]  # what helm checks
        assert [version["version"] for version in index["entries"]["streams-app"]] == ["3.6.1"]


def test_an_index_naming_no_archive_here_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.yaml").write_text(
        "apiVersion: v1\nentries:\n  app:\n  - version: 1.0.0\n    urls: [app-1.0.0.tgz]\n"
    )
    with pytest.raises(NoChartsError, match="names no archive"):
        ChartServer(tmp_path).start()
    (tmp_path / "index.yaml").write_text("just: [a, list\n")
    with pytest.raises(NoChartsError, match="not valid YAML"):
        ChartServer(tmp_path).start()


@pytest.mark.subprocess  # `kpops-bot charts serve` as a process
def test_charts_serve_says_what_it_serves_and_what_it_left_out(tmp_path: Path) -> None:
    published = _published(tmp_path / "gh-pages")
    with ChartServer(FIXTURES / "charts") as probe:
        port = int(probe.url.rsplit(":", 1)[1].strip("/"))
    process = subprocess.Popen(
        [sys.executable, "-m", "kpops_bot", "charts", "serve", str(published), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert "streams-app-3.6.1.tgz" in process.stderr.readline()
        assert process.stderr.readline().strip() == "Left out of the index (no archive here): streams-app 0.0.1"
        assert b"streams-app-3.6.1.tgz" in _get(f"http://127.0.0.1:{port}/index.yaml")
    finally:
        process.terminate()
        process.wait(timeout=60)
