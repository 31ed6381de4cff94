"""The bot's Prometheus metrics: one registry, the counters and histograms its parts move, and the gauges read
from the store when `/metrics` is scraped.

Counters live in the bot's process's memory, where the worker's threads run. Intake processes (`intake_processes`)
count nothing themselves: they hand every answer to the bot's process (`server.intake_channel`), which counts it,
and forward `/metrics` to it, so the counters are exact whichever process a scrape reaches. Several replicas are
several scrape targets, summed by Prometheus. What
every replica shares (queue depth, the oldest job's age, locks and their lines) is read from the database at
scrape time, so each replica reports the same truth. The cache hit ratio is
`rate(kpops_bot_render_cache_lookups_total{result="hit"}[5m]) / rate(kpops_bot_render_cache_lookups_total[5m])`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kpops_bot.version import bot_version

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry()

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class DeliveryOutcome(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # irrelevant to the bot (an event it does not act on, a repository it does not serve)
    REFUSED = "refused"  # the sender's mistake (signature, size, JSON, shape) or the store unavailable


class JobOutcome(StrEnum):
    DONE = "done"
    RETRIED = "retried"
    FAILED = "failed"


class BuildOutcome(StrEnum):
    BUILT = "built"
    FAILED = "failed"


class CacheResult(StrEnum):
    HIT = "hit"
    MISS = "miss"


# The event names the forges send that the bot knows (`events/github.py`, `events/gitlab.py`), and `unknown` for
# a sender not believed. A label value is a time series kept for the process's lifetime, and the event header is
# the sender's: any other name is counted as `other`, so a replayed delivery cannot grow `/metrics` without bound.
KNOWN_EVENTS = frozenset(
    {"pull_request", "issue_comment", "push", "ping", "Merge Request Hook", "Note Hook", "Push Hook", "unknown"}
)
OTHER_EVENT = "other"


def event_label(event: str) -> str:
    return event if event in KNOWN_EVENTS else OTHER_EVENT


deliveries = Counter(
    "kpops_bot_deliveries",
    "Webhook deliveries received, by forge, event and what intake made of them.",
    ["forge", "event", "outcome"],
    registry=REGISTRY,
)
job_duration = Histogram(
    "kpops_bot_job_duration_seconds",
    "Time a job attempt ran, by kind and outcome (done, retried, failed).",
    ["kind", "outcome"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
render_duration = Histogram(
    "kpops_bot_render_duration_seconds",
    "Time one pipeline render took in the render pool, by outcome (rendered or the error's kind).",
    ["outcome"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
render_cache_lookups = Counter(
    "kpops_bot_render_cache_lookups",
    "Render cache lookups, by result (hit, miss).",
    ["result"],
    registry=REGISTRY,
)
render_cache_evictions = Counter(
    "kpops_bot_render_cache_evictions",
    "Render cache entries removed to keep the cache under its size bound.",
    registry=REGISTRY,
)
sandbox_failures = Counter(
    "kpops_bot_sandbox_failures",
    "Renders the sandbox ended: a limit hit (memory, CPU, file size, result size), a timeout or a crash.",
    ["kind"],
    registry=REGISTRY,
)
forge_calls = Counter(
    "kpops_bot_forge_calls",
    "Forge API calls (each with its retries), by forge and outcome (ok, error).",
    ["forge", "outcome"],
    registry=REGISTRY,
)
forge_retries = Counter(
    "kpops_bot_forge_retries",
    "Forge API call attempts that failed transiently and were tried again, by forge.",
    ["forge"],
    registry=REGISTRY,
)

worker_threads_alive = Gauge(
    "kpops_bot_worker_threads_alive",
    "Worker threads of this replica alive and making progress (0 with concurrency > 0: nothing runs here).",
    registry=REGISTRY,
)
worker_restarts = Counter(
    "kpops_bot_worker_restarts",
    "Worker threads that ended and were started again by the supervisor.",
    registry=REGISTRY,
)
store_errors = Counter(
    "kpops_bot_store_errors",
    "Store operations of the worker that failed and were tried again, by operation (claim, finish, beat, ...).",
    ["operation"],
    registry=REGISTRY,
)
transient_faults = Counter(
    "kpops_bot_transient_faults",
    "Job tries that met a fault of the bot's surroundings (retried without spending an attempt), by kind.",
    ["kind"],
    registry=REGISTRY,
)
last_job_success = Gauge(
    "kpops_bot_last_job_success_timestamp_seconds",
    "When a job last finished successfully on this replica (Unix time; 0: none yet).",
    registry=REGISTRY,
)


environment_builds = Counter(
    "kpops_bot_kpops_environment_builds",
    "Python environments of kpops releases built on demand, by release and outcome (built, failed).",
    ["release", "outcome"],
    registry=REGISTRY,
)
environment_build_duration = Histogram(
    "kpops_bot_kpops_environment_build_duration_seconds",
    "Time building the environment of a kpops release took, by outcome (built, failed).",
    ["outcome"],
    buckets=_SECONDS,
    registry=REGISTRY,
)


workspace_pruned = Counter(
    "kpops_bot_workspace_pruned",
    "Workspace folders removed: mirrors of repositories unused for mirror_days, checkouts of a process gone.",
    ["what"],
    registry=REGISTRY,
)


drift_checks = Counter(
    "kpops_bot_drift_checks",
    "Drift checks of a branch's GitOps target, by forge and result (in_sync, drifted, failed).",
    ["forge", "result"],
    registry=REGISTRY,
)

build_info = Info("kpops_bot_build", "The bot's version (value 1; the version is the label).", registry=REGISTRY)
build_info.info({"version": bot_version()})


def exposition() -> bytes:
    return generate_latest(REGISTRY)


class _StoreCollector(Collector):
    """Gauges read from the store at scrape time: what every replica shares. Reads the newest store watched (a
    process runs one bot; a test may start several one after another)."""

    def __init__(self) -> None:
        self.readers: list[Callable[[], dict[str, float]]] = []

    def collect(self) -> Iterator[Metric]:
        if not self.readers:
            return
        try:
            facts = self.readers[-1]()
        except Exception:  # a scrape must answer; the store's health is a metric of its own
            yield GaugeMetricFamily("kpops_bot_store_up", "Whether the store answered this scrape.", value=0)
            return
        yield GaugeMetricFamily("kpops_bot_store_up", "Whether the store answered this scrape.", value=1)
        described = (
            ("kpops_bot_jobs_queued", "Jobs waiting to run.", "queued"),
            ("kpops_bot_jobs_running", "Jobs running now (all replicas).", "running"),
            ("kpops_bot_oldest_queued_job_age_seconds", "Age of the oldest job waiting to run.", "oldest_age"),
            ("kpops_bot_locks_held", "Pipeline locks held by pull requests.", "locks_held"),
            ("kpops_bot_lock_waits", "Commands waiting in a lock line.", "lock_waits"),
        )
        for name, documentation, fact in described:
            yield GaugeMetricFamily(name, documentation, value=facts.get(fact, 0.0))


_store_collector = _StoreCollector()
REGISTRY.register(_store_collector)


def watch_store(read: Callable[[], dict[str, float]]) -> Callable[[], None]:
    """Scrapes read the store through `read` from now on; the result stops that (a bot that stops)."""
    _store_collector.readers.append(read)
    return lambda: _store_collector.readers.remove(read)
