"""The ``vggish-csv`` plugin: one CSV row per epoch, to the file ``$ABLATE_CSV`` names.

A lifecycle plugin needs no registration; it only observes. Unset ``ABLATE_CSV`` and it
does nothing, so installing the package never writes files behind anyone's back.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from ablate import hookimpl

ENV_VAR = "ABLATE_CSV"
CONFIG_COLUMNS = ("model", "placement", "scheduler", "optimizer", "dataset", "seed")
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
COLUMNS = CONFIG_COLUMNS + METRIC_COLUMNS


def append_row(path: Path, config: Any, metrics: dict[str, float]) -> None:
    """Append one epoch; writes the header first when the file is new or empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists() or path.stat().st_size == 0
    row = {name: getattr(config, name) for name in CONFIG_COLUMNS}
    row.update({name: metrics.get(name) for name in METRIC_COLUMNS})
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if fresh:
            writer.writeheader()
        writer.writerow(row)


@hookimpl
def on_epoch_end(config: Any, epoch: int, metrics: dict[str, float]) -> None:
    """Log the epoch if ``$ABLATE_CSV`` is set; never asks the run to stop."""
    target = os.environ.get(ENV_VAR)
    if target:
        append_row(Path(target), config, {**metrics, "epoch": epoch})
