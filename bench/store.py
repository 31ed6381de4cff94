"""The store's durable intake alone, without HTTP: deliveries per second as more of them arrive together.

    .venv/bin/python bench/store.py [--deliveries 4000] [--senders 1,8,32,128] [--database sqlite|postgresql]

`--senders` threads call `Store.accept` (delivery and job in one transaction, SQLite in WAL mode with
synchronous=FULL) one delivery after the other, as the server's requests do; deliveries waiting together are
written in one transaction (group commit), so the batch grows with the senders. Prints deliveries/s for each count
and the ratio against one sender in the same run, and the process's CPU per delivery (senders included): what the
store can take, to compare with what `bench/webhooks.py` measures through the server.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpops_bot.events.model import Forge, PullRequestAction, PullRequestEvent, Repository  # noqa: E402
from kpops_bot.jobs import JobKind  # noqa: E402
from kpops_bot.store import NewJob, Store  # noqa: E402
from testbed.postgres import postgres_server  # noqa: E402

_REPOSITORY = Repository(Forge.GITHUB, "acme/deployments", "https://github.example/acme/deployments.git")
_PAYLOAD = PullRequestEvent("x" * 200, _REPOSITORY, 1, PullRequestAction.UPDATED, "main", "a" * 40, from_fork=False)


def _rate(store: Store, senders: int, deliveries: int) -> tuple[float, float]:
    """Deliveries per second, and the process's CPU seconds per delivery (all threads, the senders' too)."""
    each = max(1, deliveries // senders)
    start = threading.Barrier(senders + 1)

    def send(sender: int) -> None:
        start.wait()
        for index in range(each):
            job = NewJob(
                f"github:acme/deployments#{(sender * each + index) % 200}", JobKind.PREVIEW, _PAYLOAD, "a" * 40
            )
            store.accept("github", str(uuid.uuid4()), "pull_request", job)

    threads = [threading.Thread(target=send, args=(sender,)) for sender in range(senders)]
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    total = senders * each
    return total / (time.perf_counter() - began), (time.process_time() - cpu) / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--senders", default="1,8,32,128")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kpops-bot-bench-")))
        url = stack.enter_context(postgres_server()) if args.database == "postgresql" else f"sqlite:///{folder}/b.db"
        store = Store(url)
        stack.callback(store.close)
        store.migrate()
        counts = [int(count) for count in args.senders.split(",")]
        rates = {count: _rate(store, count, args.deliveries) for count in counts}
    print(f"database: {args.database}, {args.deliveries} deliveries per count")
    print(f"{'senders':>8} {'deliveries/s':>13} {'ratio':>6} {'CPU µs/delivery':>16}")
    first = rates[counts[0]][0]
    for count, (rate, cpu) in rates.items():
        print(f"{count:>8} {rate:>13,.0f} {rate / first:>6.1f} {cpu * 1e6:>16,.0f}")


if __name__ == "__main__":
    main()
