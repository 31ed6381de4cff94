"""Serve a folder of chart sources as a Helm chart repository on loopback.

Every chart folder (one with a `Chart.yaml`) is packaged and indexed into a private directory, which a threaded
HTTP server then serves: `index.yaml` plus one `.tgz` per chart, as any Helm repository does.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import helm_python


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
        self._thread = threading.Thread(target=self._server.serve_forever, name="chart-server", daemon=True)
        self.archives: list[str] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> ChartServer:
        try:
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
