"""What running each `helm template` of a render in a worker of its own costs, against running it in-process.

    .venv/bin/python bench/helm_template.py [--renders 10] [--per-render 3] [--clients 2]

The helm service runs the templates of a render in a worker process of that render, within that render's budget
(see `kpops_bot/helm/worker.py`); before, it ran them in its own process, unbounded. This plays `--renders`
renders (each its own grant) of `--per-render` templates of the fixture chart `producer-app` each through the
service, `--clients` renders at once as the pool's workers are, and the same number of templates with the front
end in this process (Helm's library loaded once: the old cost of the template itself), and prints milliseconds
per template for each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpops_bot.helm import frontend, service  # noqa: E402
from kpops_bot.helm.outcome import Outcome  # noqa: E402

CHART = ROOT / "fixtures" / "charts" / "producer-app"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=10)
    parser.add_argument("--per-render", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    templates = args.renders * args.per_render
    with tempfile.TemporaryDirectory(prefix="bench-helm-") as folder:
        root = Path(folder)
        checkout = root / "checkout"
        shutil.copytree(CHART, checkout / "producer-app")
        argv = ["template", "p", "producer-app"]
        key = service.new_key()
        socket_path = str(root / "helm.sock")

        def render(index: int) -> list[Outcome]:
            env = {"HOME": f"{folder}/{index}"}  # a grant of its own
            grant = service.Grant(env=env, files=[str(checkout)], charts=[str(checkout)], cwd=str(checkout))
            token = grant.sign(key)
            return [service.call(socket_path, argv, token) for _ in range(args.per_render)]

        process = service.start(socket_path, {"PATH": os.environ["PATH"]}, key)
        try:
            render(-1)  # the first worker's start is not counted
            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                outcomes = [outcome for outcomes in pool.map(render, range(args.renders)) for outcome in outcomes]
            worker_seconds = time.perf_counter() - start
        finally:
            assert process.stdin is not None
            process.stdin.close()
            process.wait()
        assert all(outcome.returncode == 0 for outcome in outcomes), outcomes[0].stderr
        frontend.run(["version"])  # Helm's library loaded before timing, as the service had it
        os.chdir(checkout)
        start = time.perf_counter()
        for _ in range(templates):
            assert frontend.run(argv, {"HOME": folder}).returncode == 0
        in_process_seconds = time.perf_counter() - start
    per_worker = worker_seconds / templates * 1000
    per_call = in_process_seconds / templates * 1000
    print(f"renders: {args.renders} of {args.per_render} templates, renders at once: {args.clients}")
    print(f"in a worker each (wall, per template): {per_worker:.0f} ms")
    print(f"in process, one after the other:        {per_call:.0f} ms")
    print(f"ratio: {per_worker / per_call:.1f}x")


if __name__ == "__main__":
    main()
