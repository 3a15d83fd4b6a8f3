"""The one plugin manager: loads built-in and third-party plugins from entry points.

Built-in plugins live in ``plugins/`` (importable as ``ablate_plugins``) and are
declared in ablate's own ``[project.entry-points.ablate]``, so they load exactly like
anyone else's. Loading is lazy, guarded per plugin, and honours two environment
variables: ``ABLATE_PLUGINS`` (an allow-list) and ``ABLATE_DISABLE_PLUGINS``.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from ablate import hookspecs

ENTRY_POINT_GROUP = "ablate"
# Used only when ablate runs from a source tree that was never installed.
BUILTIN_MODULES = {
    "lenet5": "ablate_plugins.lenet5",
    "placements": "ablate_plugins.placements",
    "schedulers": "ablate_plugins.schedulers",
    "optimizers": "ablate_plugins.optimizers",
    "datasets": "ablate_plugins.datasets",
    "studies": "ablate_plugins.studies",
}


class PluginLoadWarning(UserWarning):
    """A plugin failed to import or to register; the others are unaffected."""


@dataclass
class PluginInfo:
    """What ``ablate plugins`` shows about one loaded plugin."""

    name: str
    version: str
    source: str  # "built-in", "entry point" or "inline"
    module: str
    registers: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PluginProblem:
    name: str
    error: str


pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
pm.add_hookspecs(hookspecs)

_state: dict[str, Any] = {"loaded": False, "generation": 0, "trace": False}
infos: dict[str, PluginInfo] = {}
problems: list[PluginProblem] = []


def _names_from_env(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _wanted(name: str) -> bool:
    allow = _names_from_env("ABLATE_PLUGINS")
    deny = _names_from_env("ABLATE_DISABLE_PLUGINS") or set()
    return (allow is None or name in allow) and name not in deny


def report_problem(name: str, error: BaseException | str) -> None:
    """Record and warn about a broken plugin without stopping anything else."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = " ".join(str(text).split())
    problems.append(PluginProblem(name, text))
    warnings.warn(f"plugin {name!r} failed: {text}", PluginLoadWarning, stacklevel=2)


def _register_module(module: ModuleType | object, name: str, info: PluginInfo) -> bool:
    if pm.has_plugin(name) or pm.is_registered(module):
        return False
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except Exception as exc:  # a misspelled hook or a bad signature
        if pm.has_plugin(name):
            pm.unregister(name=name)
        report_problem(name, exc)
        return False
    infos[name] = info
    return True


def load_plugins() -> None:
    """Load every wanted plugin once; later calls are free."""
    if _state["loaded"]:
        return
    _state["loaded"] = True
    found_builtin = False
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "?"
        builtin = dist_name == "ablate"
        found_builtin = found_builtin or builtin
        if not _wanted(ep.name):
            continue
        try:
            module = ep.load()
        except Exception as exc:
            report_problem(ep.name, exc)
            continue
        version = dist.version if dist is not None else "?"
        source = "built-in" if builtin else "entry point"
        _register_module(module, ep.name, PluginInfo(ep.name, version, source, ep.value))
    if not found_builtin:
        from ablate import __version__

        for name, module_name in BUILTIN_MODULES.items():
            if not _wanted(name):
                continue
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                report_problem(name, exc)
                continue
            _register_module(module, name, PluginInfo(name, __version__, "built-in", module_name))
    _state["generation"] += 1


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object inline (a notebook, a test); returns its name."""
    load_plugins()
    name = name or getattr(plugin, "__name__", None) or f"inline-{id(plugin):x}"
    module = getattr(plugin, "__module__", None) or "inline"
    if pm.has_plugin(name):
        raise ValueError(f"a plugin named {name!r} is already registered")
    pm.register(plugin, name=name)
    pm.check_pending()
    infos[name] = PluginInfo(name, "-", "inline", str(module))
    _state["generation"] += 1
    return name


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with :func:`register_plugin` (or any other)."""
    if pm.has_plugin(name):
        pm.unregister(name=name)
    infos.pop(name, None)
    _state["generation"] += 1


def generation() -> int:
    """A counter that changes whenever the set of plugins changes (for caches)."""
    load_plugins()
    return int(_state["generation"])


def enable_trace(stream: Any = None) -> None:
    """Print each hook call and what it did to ``stream`` (stderr by default)."""
    _state["trace"] = True
    _state["trace_stream"] = stream or sys.stderr
    pm.trace.root.setwriter(lambda text: _state["trace_stream"].write(text))
    pm.enable_tracing()


def trace(line: str) -> None:
    if _state["trace"]:
        _state["trace_stream"].write(f"trace: {line}\n")


def call_each(hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call every implementation of a hook one plugin at a time, isolating failures.

    Returns ``(plugin_name, result)`` pairs. A plugin that raises is reported by name
    and skipped; the others still run.
    """
    load_plugins()
    caller = getattr(pm.hook, hook_name)
    results: list[tuple[str, Any]] = []
    for impl in reversed(caller.get_hookimpls()):
        args = {name: kwargs[name] for name in impl.argnames if name in kwargs}
        trace(f"{hook_name} -> {impl.plugin_name}")
        try:
            results.append((impl.plugin_name, impl.function(**args)))
        except Exception as exc:
            report_problem(impl.plugin_name, f"{hook_name}: {type(exc).__name__}: {exc}")
    return results


def reset_for_tests() -> None:
    """Forget every plugin so the next use loads them afresh."""
    for name, _ in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    infos.clear()
    problems.clear()
    _state.update(loaded=False, trace=False)
    _state["generation"] += 1
