"""One full pass of Python's garbage collector over the bot's process as `kpops-bot serve` starts it, before and
after `gc.freeze()` (which `Bot.serve` and each intake process call before they take requests).

    .venv/bin/python bench/gc_pause.py [--passes 5]

A full pass stops every thread of the process: each request waiting meanwhile pays it. Prints the tracked objects
and the median pass, in milliseconds, of both in the same run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kpops_bot.server.bot import Bot
from kpops_bot.settings import BotSettings


def _pass_ms(passes: int) -> float:
    timings = []
    for _ in range(passes):
        started = time.perf_counter()
        gc.collect()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kpops-bot-bench-") as data:
        settings = BotSettings(data_dir=Path(data), concurrency=0, github={"webhook_secret": "bench"})  # type: ignore[arg-type]
        bot = Bot(settings)
        tracked = len(gc.get_objects())
        before = _pass_ms(args.passes)
        gc.freeze()
        after = _pass_ms(args.passes)
        gc.unfreeze()
        bot.services.close()
    print(f"objects tracked by the collector at start: {tracked:,}")
    print(f"full pass: {before:.1f} ms; after gc.freeze(): {after:.1f} ms (median of {args.passes})")


if __name__ == "__main__":
    main()
