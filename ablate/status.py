"""``ablate status``: a sweep's progress read from the storage alone."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import optuna
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ablate.display import format_seconds
from ablate.records import STATE_NAMES
from ablate.workers import WORKER_ATTR_PREFIX

ALIVE_AFTER_S = 120


def _age(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (datetime.now(timezone.utc) - then).total_seconds()


def status_table(study: optuna.Study) -> Group:
    trials = study.get_trials(deepcopy=False)
    counts = Counter(STATE_NAMES.get(t.state, t.state.name.lower()) for t in trials)
    workers = [v for k, v in study.user_attrs.items() if k.startswith(WORKER_ATTR_PREFIX)]
    alive = [
        w
        for w in workers
        if w.get("state") != "stopped" and (_age(w.get("last_seen")) or 1e9) < ALIVE_AFTER_S
    ]
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if t.state.is_finished() and t.datetime_start and t.datetime_complete
    ]
    waiting = counts.get("waiting", 0) + counts.get("running", 0)
    header = Text(f"study {study.study_name}: {len(trials)} trials", style="bold")
    table = Table(title="trials by state", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("state")
    table.add_column("trials", justify="right")
    for state in ("complete", "pruned", "failed", "running", "waiting"):
        table.add_row(state, str(counts.get(state, 0)))
    lines = [header, table]
    if durations and alive and waiting:
        mean = sum(durations) / len(durations)
        eta = mean * waiting / len(alive)
        lines.append(
            Text(
                f"ETA for queued and running trials: {format_seconds(eta)} "
                f"({len(alive)} workers, {format_seconds(mean)} per trial)"
            )
        )
    elif waiting and not alive:
        lines.append(
            Text(f"{waiting} trials queued or running but no worker alive: start 'ablate worker'")
        )
    wt = Table(
        title=f"workers ({len(alive)} alive of {len(workers)} seen)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for column in ("host", "pid", "device", "state", "trial", "last seen"):
        wt.add_column(column)
    for w in sorted(workers, key=lambda w: w.get("last_seen") or "", reverse=True)[:20]:
        age = _age(w.get("last_seen"))
        state = (
            w.get("state", "?")
            if w in alive
            else ("stopped" if w.get("state") == "stopped" else "lost")
        )
        wt.add_row(
            str(w.get("host")),
            str(w.get("pid")),
            str(w.get("device")),
            state,
            str(w.get("trial") if w.get("trial") is not None else "-"),
            f"{format_seconds(age)} ago" if age is not None else "-",
        )
    lines.append(wt)
    return Group(*lines)
