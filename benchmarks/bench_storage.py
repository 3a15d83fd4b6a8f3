"""Storage load test: many workers, very short trials, on PostgreSQL, SQLite and a journal.

Eight ``ablate worker`` processes share one storage and run a 400-trial grid of tiny
trials (synthetic data, 64 images, 1 epoch). For each storage it reports trials/s over the
busy window, the storage overhead per trial (worker-seconds per trial minus the trials'
own training time), and checks that no grid point was lost or run twice.

    python benchmarks/bench_storage.py --postgres postgresql+psycopg2://USER:PW@HOST:PORT/DB
    python benchmarks/bench_storage.py --trials 400 --workers 8   # SQLite and journal only

``eval "$(bash .ci/postgres.sh)"`` starts a throwaway local server and sets
``$ABLATE_TEST_POSTGRES_URL``, which is used when ``--postgres`` is not given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import optuna

from ablate.storage import open_storage

STUDY = """
name = "{name}"
seeds = 2
sampler = "grid"
pruner = "none"
[protocol]
dataset = "synthetic"
epochs = 1
train_size = 64
test_size = 32
batch_size = 32
[[space]]
name = "lr"
type = "logfloat"
low = 1e-5
high = 1e-1
grid = {grid}
"""


def run(storage: str, workers: int, trials: int, work: Path) -> dict:
    name = f"load-{uuid.uuid4().hex[:8]}"
    grid = [float(f"{v:.6g}") for v in np.geomspace(1e-5, 1e-1, trials // 2)]
    study_file = work / f"{name}.toml"
    study_file.write_text(STUDY.format(name=name, grid=json.dumps(grid)))
    env = dict(os.environ, ABLATE_WORKERS="1")
    command = [
        sys.executable,
        "-m",
        "ablate",
        "worker",
        "--study",
        str(study_file),
        "--storage",
        storage,
        "--threads",
        "1",
        "--artifacts",
        str(work / "art"),
    ]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(workers)
    ]
    errors = [p.communicate()[1] for p in procs]
    elapsed = time.monotonic() - started
    failed = [e for p, e in zip(procs, errors, strict=True) if p.returncode != 0]
    found = optuna.load_study(study_name=name, storage=open_storage(storage)).get_trials()
    complete = [t for t in found if t.state.name == "COMPLETE"]
    points = Counter(
        (json.dumps(t.params, sort_keys=True), t.user_attrs.get("seed")) for t in complete
    )
    first = min(t.datetime_start for t in complete)
    last = max(t.datetime_complete for t in complete)
    window = (last - first).total_seconds()
    compute = sum(t.user_attrs.get("wall_time_s", 0.0) for t in complete) / len(complete)
    return {
        "trials": len(found),
        "complete": len(complete),
        "lost": trials - len(points),
        "duplicated": sum(n - 1 for n in points.values()),
        "window_s": window,
        "trials_per_s": len(complete) / window,
        "overhead_ms": 1000 * (workers * window / len(complete) - compute),
        "compute_ms": 1000 * compute,
        "wall_s": elapsed,
        "worker_errors": len(failed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--postgres", default=os.environ.get("ABLATE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ablate-load-"))
    storages = {"sqlite": f"sqlite:///{work / 'load.db'}", "journal": f"journal:{work / 'j.log'}"}
    if args.postgres:
        storages = {"postgresql": args.postgres, **storages}
    print(f"{args.workers} workers, {args.trials} trials, {os.cpu_count()} cores")
    print(
        f"{'storage':11} {'trials/s':>9} {'overhead/trial':>15} {'train/trial':>12} "
        f"{'lost':>5} {'dup':>4} {'wall':>7}"
    )
    for label, url in storages.items():
        r = run(url, args.workers, args.trials, work)
        print(
            f"{label:11} {r['trials_per_s']:9.2f} {r['overhead_ms']:12.0f} ms "
            f"{r['compute_ms']:9.0f} ms {r['lost']:5d} {r['duplicated']:4d} "
            f"{r['wall_s']:6.0f}s"
            + (f"  ({r['worker_errors']} worker errors)" if r["worker_errors"] else "")
        )


if __name__ == "__main__":
    main()
