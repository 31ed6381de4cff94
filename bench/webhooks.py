"""Webhook intake of `kpops-bot serve` on loopback: deliveries per second and acknowledgement latency.

    .venv/bin/python bench/webhooks.py [--deliveries 5000] [--connections 16] [--rate 2000]
                                       [--database sqlite|postgresql] [--intake-processes 0,2]

The bot runs as its own process (receive only: `concurrency: 0`, so no job is worked on meanwhile), once per
`--intake-processes` value in the same run: 0 is one process doing everything, N > 0 is N intake processes taking
the webhooks on the port and handing them to the bot's process, which stores them. Every
delivery is a signed GitHub `pull_request` event, for 200 different pull requests, with its own delivery id: the
server checks the signature, parses the event, and stores delivery and job in one transaction (SQLite in WAL mode
with synchronous=FULL by default) before it answers 202. The load generator is this process, one asyncio loop
speaking minimal HTTP/1.1 on keep-alive connections (about 60 µs of CPU a request, a tenth of the server's).

Two measurements:
1. Throughput, closed loop: `--connections` requests always in flight, each connection sending its next request
   when the answer arrives. Baseline in the same run: the same load on `GET /healthz` (no signature check, no
   parsing, no write). Its latencies are no separate figure: by Little's law the mean is connections /
   throughput (16 connections at 2,000/s: 8 ms), whatever the server does per request.
2. Latency at a given rate, open loop: deliveries sent at `--rate` per second on schedule, whether or not earlier
   ones were answered, each timed from its scheduled moment (a server that falls behind shows as latency, not as a
   slower sender). This is the figure for "p99 at that rate".
Targets (SQLite): at least 2,000 deliveries/s, and p99 at most 10 ms at 2,000 deliveries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpops_bot.events.signatures import github_signature  # noqa: E402
from kpops_bot.playground.asgi_server import free_port  # noqa: E402
from testbed.postgres import postgres_server  # noqa: E402

SECRET = "bench-secret"


def _deliveries(count: int) -> list[tuple[bytes, dict[str, str]]]:
    template = json.loads((ROOT / "fixtures" / "webhooks" / "github-pull_request.json").read_text())
    prepared = []
    for index in range(count):
        template["number"] = template["pull_request"]["number"] = index % 200 + 1
        template["pull_request"]["head"]["sha"] = f"{index:040x}"
        body = json.dumps(template).encode()
        headers = {
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": github_signature(SECRET, body),
            "Content-Type": "application/json",
        }
        prepared.append((body, headers))
    return prepared


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for this load (as wrk does, a load
    generator must cost little CPU: it shares the two cores with the server)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> int:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await self._reader.readexactly(length)
        return status

    def close(self) -> None:
        self._writer.close()


async def _load(
    port: int, requests: list[tuple[bytes, dict[str, str]] | None], connections: int
) -> tuple[float, list[float]]:
    """Send everything with `connections` requests in flight; wall seconds and each request's latency."""
    latencies: list[float] = []
    queue = list(reversed(requests))
    opened = [await _Connection.open("127.0.0.1", port) for _ in range(connections)]

    async def sender(connection: _Connection) -> None:
        while queue:
            item = queue.pop()
            started = time.perf_counter()
            if item is None:
                status = await connection.request("GET", "/healthz")
            else:
                status = await connection.request("POST", "/webhooks/github", item[0], item[1])
            latencies.append(time.perf_counter() - started)
            if status != (200 if item is None else 202):
                msg = f"unexpected answer {status}"
                raise RuntimeError(msg)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(sender(connection) for connection in opened))
    finally:
        for connection in opened:
            connection.close()
    return time.perf_counter() - started, latencies


async def _paced(port: int, requests: list[tuple[bytes, dict[str, str]]], rate: float) -> tuple[float, list[float]]:
    """Send request i at `i / rate` seconds, on as many connections as that needs; wall seconds and each request's
    latency from its scheduled moment."""
    idle = [await _Connection.open("127.0.0.1", port) for _ in range(64)]
    opened = list(idle)
    latencies: list[float] = []
    started = time.perf_counter()

    async def send(scheduled: float, body: bytes, headers: dict[str, str]) -> None:
        connection = idle.pop() if idle else await _Connection.open("127.0.0.1", port)
        if connection not in opened:
            opened.append(connection)
        status = await connection.request("POST", "/webhooks/github", body, headers)
        latencies.append(time.perf_counter() - scheduled)
        idle.append(connection)
        if status != 202:
            msg = f"unexpected answer {status}"
            raise RuntimeError(msg)

    tasks = []
    try:
        for index, (body, headers) in enumerate(requests):
            scheduled = started + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(scheduled, body, headers)))
        await asyncio.gather(*tasks)
    finally:
        for connection in opened:
            connection.close()
    return time.perf_counter() - started, latencies


def _percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000)[int(share * 1000) - 1]


def _start(data: Path, database_url: str | None, intake_processes: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    data.mkdir()
    config = data / "bot.yaml"
    settings = {
        "data_dir": str(data),
        "port": port,
        "concurrency": 0,
        "intake_processes": intake_processes,
        "github": {"webhook_secret": SECRET},
    }
    if database_url:
        settings["database_url"] = database_url
    config.write_text(yaml.safe_dump(settings))
    process = subprocess.Popen(
        [sys.executable, "-m", "kpops_bot", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    msg = "kpops-bot serve did not become ready"
    raise RuntimeError(msg)


def _ms(values: list[float], share: float) -> str:
    return f"{_percentile(values, share) * 1000:.1f} ms"


def _measure(
    data: Path, database_url: str | None, intake_processes: int, args: argparse.Namespace
) -> dict[str, tuple[float, list[float]]]:
    """Each load's wall seconds and latencies against one server started with `intake_processes`."""
    deliveries = _deliveries(args.deliveries * 2)
    gc.freeze()  # the load generator's own collections must not show as the server's latency
    process, port = _start(data / f"intake-{intake_processes}", database_url, intake_processes)
    try:
        asyncio.run(_load(port, [None] * 500, args.connections))  # warm up connections and code paths
        return {
            "healthz": asyncio.run(_load(port, [None] * args.deliveries, args.connections)),
            "closed": asyncio.run(_load(port, deliveries[: args.deliveries], args.connections)),
            "paced": asyncio.run(_paced(port, deliveries[args.deliveries :], args.rate)),
        }
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=2000.0, help="Deliveries per second of the open-loop run.")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--intake-processes", default="0,2", help="Server configurations measured in this run.")
    args = parser.parse_args()
    counts = [int(count) for count in args.intake_processes.split(",")]
    with ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kpops-bot-bench-")))
        database_url = stack.enter_context(postgres_server()) if args.database == "postgresql" else None
        runs = {count: _measure(data, database_url, count, args) for count in counts}
    print(f"database: {args.database}, {args.deliveries} deliveries, {args.connections} connections")
    first = None
    for count, measured in runs.items():
        (base_seconds, base), (seconds, closed), (paced_seconds, paced) = measured.values()
        rate, base_rate = len(closed) / seconds, len(base) / base_seconds
        first = first or rate
        print(f"intake_processes: {count}")
        print(f"  baseline GET /healthz: {base_rate:,.0f} requests/s, p50 {_ms(base, 0.5)}, p99 {_ms(base, 0.99)}")
        print(
            f"  webhooks (signature + parse + durable insert), closed loop: {rate:,.0f} deliveries/s "
            f"({rate / base_rate:.2f} of /healthz, {rate / first:.2f}x intake_processes {counts[0]})"
        )
        print(
            f"  webhooks at {args.rate:,.0f}/s on schedule (open loop): {len(paced) / paced_seconds:,.0f} "
            f"deliveries/s, p50 {_ms(paced, 0.5)}, p99 {_ms(paced, 0.99)}"
        )
    print("targets (SQLite): at least 2,000 deliveries/s, p99 at most 10 ms at 2,000/s on schedule")


if __name__ == "__main__":
    main()
