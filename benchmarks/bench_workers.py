"""Trials per hour with one worker vs several, on this machine's CPU.

Small convolutions use several cores poorly, so ``--workers N`` single-threaded processes
should beat one process with N threads. Runs the same grid (4 configurations x
``--seeds``; LeNet-5, real Fashion-MNIST subset, 1 epoch) with ``ablate sweep
--workers 1`` (all cores as threads) and ``--workers 2`` (one thread each), end to
end including process start-up, and reports the ratio.

    python benchmarks/bench_workers.py [--train-size 6000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

STUDY = """
name = "{name}"
seeds = {seeds}
sampler = "grid"
pruner = "none"
[protocol]
epochs = 1
train_size = {train}
test_size = 2000
[[space]]
name = "placement"
choices = ["none", "seed"]
[[space]]
name = "lr"
type = "logfloat"
low = 1e-4
high = 1e-2
grid = [1e-3, 3e-3]
"""


def sweep_seconds(workers: int, train: int, seeds: int, work: Path) -> tuple[float, float]:
    """(end-to-end wall seconds, busy seconds from the first trial's start to the last's end)."""
    import optuna

    name = f"w{workers}-{uuid.uuid4().hex[:6]}"
    path = work / f"{name}.toml"
    path.write_text(STUDY.format(name=name, train=train, seeds=seeds))
    env = dict(os.environ)
    env.pop("ABLATE_WORKERS", None)
    storage = f"sqlite:///{work / 'w.db'}"
    command = [
        sys.executable,
        "-m",
        "ablate",
        "sweep",
        "--study",
        str(path),
        "--storage",
        storage,
        "--workers",
        str(workers),
        "--quiet",
        "--no-report",
    ]
    started = time.monotonic()
    subprocess.run(command, env=env, cwd=work, check=True, capture_output=True)
    wall = time.monotonic() - started
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    busy = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    return wall, busy.total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=4, help="4 configurations x this many trials")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ablate-workers-"))
    one, many = [], []
    for _ in range(args.rounds):
        one.append(sweep_seconds(1, args.train_size, args.seeds, work))
        many.append(sweep_seconds(args.workers, args.train_size, args.seeds, work))
    (w1, b1), (wn, bn) = min(one), min(many)
    n = 4 * args.seeds
    print(f"{n} trials, {os.cpu_count()} cores, train_size {args.train_size}")
    print("                 end to end (with start-up)      steady state (trials running)")
    for label, wall, busy in ((" 1", w1, b1), (f" {args.workers}", wn, bn)):
        print(
            f"--workers{label} :  {wall:6.1f} s {n * 3600 / wall:6.0f} trials/h      "
            f"{busy:6.1f} s {n * 3600 / busy:6.0f} trials/h"
        )
    print(f"ratio        :  {w1 / wn:.2f}x                         {b1 / bn:.2f}x")


if __name__ == "__main__":
    main()
