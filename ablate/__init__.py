"""ablate: a plugin-based ablation framework for PyTorch.

Which part of my model actually matters? Models, normalisation placements, schedulers,
optimizers, datasets and studies come from pluggy plugins; configs are validated with
pydantic; sweeps run on Optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ablate.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "Placement",
    "RunConfig",
    "RunResult",
    "__version__",
    "hookimpl",
    "register_plugin",
    "run",
    "summarize",
    "sweep",
    "unregister_plugin",
]

if TYPE_CHECKING:
    from ablate.config import RunConfig
    from ablate.placement import Placement
    from ablate.result import RunResult

_LAZY = {
    "RunConfig": ("ablate.config", "RunConfig"),
    "RunResult": ("ablate.result", "RunResult"),
    "Placement": ("ablate.placement", "Placement"),
    "run": ("ablate.engine", "run"),
    "register_plugin": ("ablate.plugins", "register_plugin"),
    "unregister_plugin": ("ablate.plugins", "unregister_plugin"),
    "sweep": ("ablate.sweeps", "sweep"),
    "summarize": ("ablate.summary", "summarize"),
}


def __getattr__(name: str) -> Any:
    """Import heavy parts (torch, optuna) only when they are used."""
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(module_name), attr)
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")
