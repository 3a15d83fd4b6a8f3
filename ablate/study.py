"""Studies: a fixed protocol, a search space, an objective, seeds and a budget.

A study is a pydantic model, registered by plugins through ``register_studies`` or
loaded from a TOML file. Parameter names say what they set: a ``RunConfig`` field
(``lr``, ``scheduler``, ``batch_size``...), a parameter of the optimizer or scheduler
(``optimizer_params.weight_decay``), or one part of the placement (``placement.input``
on/off, ``placement.conv1`` as on/off or a norm kind).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ablate import registry
from ablate.config import RunConfig, describe_validation_error, read_toml
from ablate.errors import ConfigError
from ablate.placement import KIND_ALIASES, Placement

Value = bool | int | float | str
METRICS = ("val_acc", "best_val_acc", "val_loss")


class Param(BaseModel):
    """One dimension of the search space."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: Literal["categorical", "int", "float", "logfloat"] = "categorical"
    choices: list[Value] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    grid: list[Value] | None = Field(
        None, description="values the grid sampler uses for a numeric parameter"
    )
    condition: dict[str, list[Value]] | None = Field(
        None, description="sample only when each named parameter takes one of these values"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError(f"categorical parameter {self.name!r} needs choices")
            if len({json.dumps(c) for c in self.choices}) != len(self.choices):
                raise ValueError(f"parameter {self.name!r} lists a choice twice")
        else:
            if self.low is None or self.high is None:
                raise ValueError(f"{self.type} parameter {self.name!r} needs low and high")
            if not self.low < self.high:
                raise ValueError(f"parameter {self.name!r}: low must be below high")
            if self.type == "logfloat" and self.low <= 0:
                raise ValueError(f"logfloat parameter {self.name!r} needs low > 0")
            for value in self.grid or []:
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not (self.low <= value <= self.high)
                ):
                    raise ValueError(
                        f"grid value {value!r} of {self.name!r} is outside "
                        f"[{self.low}, {self.high}]"
                    )
        return self

    def grid_values(self) -> list[Value]:
        if self.type == "categorical":
            return list(self.choices or [])
        if self.grid:
            return list(self.grid)
        if self.type == "int":
            step = int(self.step or 1)
            return list(range(int(self.low or 0), int(self.high or 0) + 1, step))
        raise ConfigError(
            f"parameter {self.name!r} is continuous: give it grid values to use --sampler grid"
        )

    def describe(self) -> str:
        if self.type == "categorical":
            text = "{" + ", ".join(str(c) for c in self.choices or []) + "}"
        else:
            text = f"{self.type} [{self.low:g}, {self.high:g}]"
            if self.grid:
                text += " grid {" + ", ".join(f"{g:g}" for g in self.grid) + "}"  # type: ignore[str-format]
        if self.condition:
            text += " if " + ", ".join(f"{k} in {v}" for k, v in self.condition.items())
        return text


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_trials: int | None = Field(None, ge=1, description="Optuna trials (configs x seeds)")
    timeout: float | None = Field(None, gt=0, description="seconds")
    epochs: int | None = Field(None, ge=1)
    train_size: int | None = Field(None, ge=1)
    test_size: int | None = Field(None, ge=1)


class Study(BaseModel):
    """A named ablation: what stays fixed, what varies, and how results are judged."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    protocol: RunConfig = Field(default_factory=RunConfig)
    space: list[Param] = Field(default_factory=list)
    metric: Literal["val_acc", "best_val_acc", "val_loss"] = "val_acc"
    direction: Literal["maximize", "minimize"] = "maximize"
    seeds: int = Field(3, ge=1)
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    budget: Budget = Field(default_factory=Budget)
    cpu_budget: Budget | None = Field(
        None, description="used instead of `budget` on a CPU, so a default sweep stays short"
    )
    cover: list[str] = Field(
        default_factory=list,
        description="categorical parameters whose every combination is tried first "
        "(the sampler chooses the rest), so no architecture is left out",
    )
    baseline: str = Field("none", description="placement that deltas are measured against")
    threshold: float = Field(0.88, gt=0, le=1, description="accuracy that marks convergence")
    reference: dict[str, dict[int, float]] = Field(
        default_factory=dict, description="published accuracies: placement -> {epoch: acc}"
    )

    @model_validator(mode="after")
    def _space_is_sound(self) -> Study:
        names = [p.name for p in self.space]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"parameter {dupes[0]!r} appears twice in the space")
        fields = set(RunConfig.model_fields)
        for param in self.space:
            head = param.name.split(".", 1)[0]
            if head in ("optimizer_params", "scheduler_params", "placement") and "." in param.name:
                continue
            if param.name not in fields or param.name in ("data_dir", "download", "device"):
                raise ValueError(
                    f"parameter {param.name!r} sets nothing: use a run setting "
                    f"(lr, scheduler, placement, ...), optimizer_params.X, scheduler_params.X "
                    f"or placement.SLOT"
                )
            for other in param.condition or {}:
                if other not in names or names.index(other) >= names.index(param.name):
                    raise ValueError(
                        f"condition of {param.name!r} names {other!r}, which is not an "
                        f"earlier parameter"
                    )
        for param in self.space:
            if param.name.startswith("placement.") and param.type == "categorical":
                for choice in param.choices or []:
                    if not isinstance(choice, bool) and str(choice) not in (*KIND_ALIASES, "none"):
                        raise ValueError(
                            f"{param.name} choice {choice!r}: use true/false or a norm kind"
                        )
        by_name = {p.name: p for p in self.space}
        for name in self.cover:
            param = by_name.get(name)
            if param is None or param.type != "categorical" or param.condition:
                raise ValueError(
                    f"cover names {name!r}: it must be an unconditional categorical parameter"
                )
        if self.metric == "val_loss" and self.direction == "maximize":
            raise ValueError("metric val_loss should be minimized (direction = 'minimize')")
        return self

    # -------------------------------------------------------------- resolution

    def active(self, param: Param, params: dict[str, Value]) -> bool:
        return all(params.get(k) in v for k, v in (param.condition or {}).items())

    def config_for(
        self, params: dict[str, Value], seed_index: int, protocol: RunConfig | None = None
    ) -> RunConfig:
        """The full RunConfig of one trial: protocol + sampled params + seed."""
        base = protocol or self.protocol
        values = base.model_dump(exclude_unset=False)
        placement_parts: dict[str, Value] = {}
        for name, value in params.items():
            head, _, tail = name.partition(".")
            if head == "placement" and tail:
                placement_parts[tail] = value
            elif head in ("optimizer_params", "scheduler_params") and tail:
                values[head] = {**values[head], tail: value}
            else:
                values[name] = value
        if placement_parts:
            values["placement"] = placement_from_parts(placement_parts, str(values["placement"]))
        values["seed"] = base.seed + seed_index
        try:
            return RunConfig(**values)
        except ValidationError as exc:
            raise ConfigError(f"study {self.name!r}: {describe_validation_error(exc)}") from None

    def grid(self) -> list[dict[str, Value]]:
        """Every combination of the space (conditions honoured), for the grid sampler."""
        combos: list[dict[str, Value]] = [{}]
        for param in self.space:
            grown = []
            for combo in combos:
                if self.active(param, combo):
                    grown += [{**combo, param.name: v} for v in param.grid_values()]
                else:
                    grown.append(combo)
            combos = grown
        return combos

    def cover_combos(self) -> list[dict[str, Value]]:
        """Every combination of the ``cover`` parameters (empty when there are none)."""
        if not self.cover:
            return []
        by_name = {p.name: p for p in self.space}
        choices = [by_name[name].choices or [] for name in self.cover]
        return [dict(zip(self.cover, combo, strict=True)) for combo in itertools.product(*choices)]

    def fingerprint(self, protocol: RunConfig) -> str:
        """Identifies the search space and protocol; a study name keeps one for life."""
        keep = {
            "space": [p.model_dump() for p in self.space],
            "metric": self.metric,
            "direction": self.direction,
            "protocol": protocol.model_dump(
                mode="json", exclude={"device", "data_dir", "download", "eval_batch_size"}
            ),
        }
        text = json.dumps(keep, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def placement_from_parts(parts: dict[str, Value], base: str) -> str:
    """Spell a placement from per-slot parameters layered over the protocol's."""
    from ablate.models import resolve_placement

    start = resolve_placement(base)
    use_input = start.input
    slots = dict(start.slots)
    for slot, value in parts.items():
        if slot == "input":
            use_input = bool(value)
            continue
        if value is False or value == "none":
            slots.pop(slot, None)
        elif value is True:
            slots[slot] = "batch"
        else:
            slots[slot] = KIND_ALIASES[str(value)]
    return Placement(
        input=use_input, input_mean=start.input_mean, input_std=start.input_std, slots=slots
    ).spelled()


def load_study_file(path: Path) -> Study:
    data = read_toml(path)
    data.setdefault("name", Path(path).stem)
    try:
        return Study(**data)
    except ValidationError as exc:
        raise ConfigError(f"invalid study {path}: {describe_validation_error(exc)}") from None


def get_study(spec: str | Path | Study) -> Study:
    """A registered study by name, a TOML file, or a Study as is."""
    if isinstance(spec, Study):
        return spec
    text = str(spec)
    if text.endswith(".toml") or Path(text).is_file():
        return load_study_file(Path(text))
    component = registry.studies.get(text)
    value = component.factory
    value = value() if callable(value) and not isinstance(value, Study) else value
    if isinstance(value, dict):
        value = Study(**value)
    if not isinstance(value, Study):
        raise ConfigError(f"study {text!r} from plugin {component.plugin!r} is not a Study")
    return value


def study_to_toml(study: Study) -> str:
    """Write a study as TOML (used by tests and ``ablate studies --toml``)."""
    data = study.model_dump(mode="json", exclude_none=True)
    return _toml_dumps(data)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_dumps(data: dict[str, Any]) -> str:
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, dict) and key != "reference":
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines += ["", f"[{key}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{key}]]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def seeds_grid(study: Study) -> list[tuple[dict[str, Value], int]]:
    """The grid in seed-major order: every configuration once, then again per seed."""
    combos = study.grid()
    return [(combo, s) for s, combo in itertools.product(range(study.seeds), combos)]
