"""Run configuration: a strict pydantic model, loadable from TOML."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ablate.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ParamValue = int | float | str | bool
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class RunConfig(BaseModel):
    """Everything that defines one training run. Defaults are the seed lecture's protocol."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str = "lenet5"
    placement: str = "none"
    dataset: str = "fashion-mnist"
    optimizer: str = "adam"
    optimizer_params: dict[str, ParamValue] = Field(default_factory=dict)
    lr: float = Field(1e-3, gt=0)
    scheduler: str = "step"
    scheduler_params: dict[str, ParamValue] = Field(default_factory=dict)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(1000, ge=1)
    seed: int = Field(0, ge=0)
    device: str = "auto"
    image_size: int = Field(32, ge=8)
    data_dir: Path | None = None
    download: bool = False
    train_size: int | None = Field(None, ge=1)
    test_size: int | None = Field(None, ge=1)

    @field_validator("device")
    @classmethod
    def _device_syntax(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("must be auto, cpu, mps, cuda or cuda:N")
        return value

    @field_validator("model", "placement", "dataset", "optimizer", "scheduler")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line naming each bad field, its value and the rule it broke."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "config"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            parts.append(f"unknown key {prefix}{where!s}")
            continue
        if error["type"] == "missing":
            parts.append(f"{prefix}{where}: required")
            continue
        value = error.get("input")
        message = message.removeprefix("Value error, ")
        parts.append(f"{prefix}{where}={value!r}: {message}")
    return "; ".join(parts)


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into one clear ``ConfigError``."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file is a directory: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {path}: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None


def make_config(values: dict[str, Any], source: str = "") -> RunConfig:
    """Validate ``values`` into a RunConfig; errors become one ``ConfigError`` line."""
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        where = f" in {source}" if source else ""
        raise ConfigError(f"invalid run config{where}: {describe_validation_error(exc)}") from None


def load_config(path: Path | None = None, **overrides: Any) -> RunConfig:
    """A RunConfig from a TOML file (optional), with ``overrides`` taking precedence."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_toml(path)
        values = values.get("run", values) if set(values) == {"run"} else values
    values.update({k: v for k, v in overrides.items() if v is not None})
    return make_config(values, source=str(path) if path else "")
