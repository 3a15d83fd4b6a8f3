"""What each sweep trial stores in Optuna's storage, and how it is read back.

Everything lives in plain user attributes, so ``optuna-dashboard`` and any Optuna
client can see it: the resolved config, seed, placement, status and reason, the
environment and per-epoch curves (also reported with ``trial.report``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

# Study-level attributes.
STUDY_ATTR = "ablate:study"
PROTOCOL_ATTR = "ablate:protocol"
NOTES_ATTR = "ablate:notes"

# Trial-level attributes.
SEED = "seed"
CONFIG = "config"
PLACEMENT = "placement"
SLOTS = "slots"
STATUS = "status"
REASON = "reason"
ENVIRONMENT = "environment"
CURVES = "curves"
WALL_TIME = "wall_time_s"
CONFIG_KEY = "config_key"
RESUMED_FROM = "resumed_from_epoch"
RETRY_OF = "retry_of"

STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def config_key(params: dict[str, Any]) -> str:
    """Identifies a configuration regardless of its seed."""
    return json.dumps(params, sort_keys=True, default=str)


@dataclass
class TrialRecord:
    """One trial as the summaries see it."""

    number: int
    state: str
    status: str
    reason: str
    params: dict[str, Any]
    seed: int | None
    placement: str
    slots: dict[str, str]
    input: bool
    value: float | None
    curves: dict[str, list[float]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float | None = None

    @property
    def key(self) -> str:
        return config_key(self.params)

    @property
    def lr(self) -> float | None:
        value = self.params.get("lr", self.config.get("lr"))
        return float(value) if value is not None else None


def record(trial: FrozenTrial) -> TrialRecord:
    attrs = trial.user_attrs
    placement = str(attrs.get(PLACEMENT, ""))
    slots = dict(attrs.get(SLOTS) or {})
    curves = dict(attrs.get(CURVES) or {})
    if not curves and trial.intermediate_values:
        curves = {
            "val_acc": [trial.intermediate_values[k] for k in sorted(trial.intermediate_values)]
        }
    state = STATE_NAMES.get(trial.state, trial.state.name.lower())
    return TrialRecord(
        number=trial.number,
        state=state,
        status=str(attrs.get(STATUS, state)),
        reason=str(attrs.get(REASON, "")),
        params=dict(trial.params),
        seed=attrs.get(SEED),
        placement=placement,
        slots=slots,
        input=placement == "input" or placement.startswith("input+"),
        value=trial.value if trial.state == TrialState.COMPLETE else None,
        curves=curves,
        config=dict(attrs.get(CONFIG) or {}),
        wall_time_s=attrs.get(WALL_TIME),
    )


def records(study: optuna.Study) -> list[TrialRecord]:
    return [record(t) for t in study.get_trials(deepcopy=False)]
