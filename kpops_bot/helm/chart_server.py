"""Serve a folder as a Helm chart repository on loopback: chart sources, or a published chart repository.

A folder of chart sources (folders with a `Chart.yaml`) is packaged and indexed into a private directory. A
published repository (an `index.yaml` beside its `.tgz` archives, as streams-bootstrap's gh-pages branch holds
them) is served as it is, its index rewritten so that each version's `urls` lead to this server: the archives and
their digests stay untouched, so helm and the bot check them as they would the original. A version whose archive
is not in the folder is left out of the index and named. A threaded HTTP server serves the private directory.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

import helm_python
import yaml


class NoChartsError(ValueError):
    """The folder to serve holds no chart."""


def package_charts(source: Path, target: Path, base_url: str) -> list[str]:
    """Package every chart below `source` into `target` and index them for `base_url`; returns the archives."""
    charts = sorted(chart_file.parent for chart_file in source.rglob("Chart.yaml"))
    if not charts:
        msg = f"{source} holds no chart (no folder with a Chart.yaml)"
        raise NoChartsError(msg)
    archives = [Path(helm_python.package(chart, destination=target)).name for chart in charts]
    helm_python.repo_index_generate(target, base_url=base_url)
    return archives


INDEX = "index.yaml"
_STOP_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Published:
    archives: list[str]  # served, relative to the repository's root
    missing: list[str]  # `name version` of the index entries whose archive the folder does not hold


def publish_repository(source: Path, target: Path, base_url: str) -> Published:
    """Copy a published repository's archives into `target` with an index whose urls point at `base_url`."""
    try:
        index = yaml.safe_load((source / INDEX).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        msg = f"{source / INDEX} is not valid YAML: {error}"
        raise NoChartsError(msg) from error
    entries = index.get("entries") if isinstance(index, dict) else None
    if not isinstance(entries, dict):
        msg = f"{source / INDEX} is not a Helm repository index (no `entries` mapping)"
        raise NoChartsError(msg)
    archives: list[str] = []
    missing: list[str] = []
    root = source.resolve()
    for name, versions in entries.items():
        kept = []
        for version in versions if isinstance(versions, list) else []:
            urls = version.get("urls") if isinstance(version, dict) else None
            relative = _local_archive(root, urls) if isinstance(urls, list) else None
            if relative is None or not isinstance(version, dict):
                missing.append(f"{name} {version.get('version') if isinstance(version, dict) else '?'}")
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, target / relative)
            kept.append({**version, "urls": [base_url + relative]})
            archives.append(relative)
        entries[name] = kept
    if not archives:
        msg = f"{source / INDEX} names no archive that {source} holds"
        raise NoChartsError(msg)
    (target / INDEX).write_text(yaml.safe_dump(index, sort_keys=False), encoding="utf-8")
    return Published(archives, missing)


def _local_archive(root: Path, urls: list[str]) -> str | None:
    """The first of an entry's urls whose archive is a file inside the folder: a relative url as it stands, an
    absolute one by its file name (a gh-pages branch serves its archives from its root)."""
    for url in urls:
        path = urlparse(url).path
        candidate = PurePosixPath(path).name if urlparse(url).scheme else path.lstrip("/")
        resolved = (root / candidate).resolve()
        if candidate and resolved.is_relative_to(root) and resolved.is_file():
            return resolved.relative_to(root).as_posix()
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not worth a log line each."""


class ChartServer:
    """A chart repository on 127.0.0.1, started and stopped with `with`."""

    def __init__(self, source: Path, port: int = 0, host: str = "127.0.0.1") -> None:
        self._source = source
        self._directory = Path(tempfile.mkdtemp(prefix="kpops-bot-charts-"))
        handler = functools.partial(_QuietHandler, directory=str(self._directory))
        self._server = ThreadingHTTPServer((host, port), handler)
        # `stop` waits for the serving loop's next look for it: every 0.05 s, not socketserver's half second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_STOP_POLL_SECONDS,), name="chart-server", daemon=True
        )
        self.archives: list[str] = []
        self.missing: list[str] = []  # a published index's versions without their archive here

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> ChartServer:
        try:
            if (self._source / INDEX).is_file():
                published = publish_repository(self._source, self._directory, self.url)
                self.archives, self.missing = published.archives, published.missing
            else:
                self.archives = package_charts(self._source, self._directory, self.url)
        except BaseException:
            self.stop()
            raise
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the server is stopped (or the process is interrupted)."""
        self._thread.join()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> ChartServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
