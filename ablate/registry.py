"""Component registries filled by the ``register_*`` hooks, in the manner of timm's.

Each kind (models, placements, ...) has one registry. It is rebuilt lazily whenever
the set of plugins changes, and it remembers which plugin registered what, so a
duplicate name can name both plugins.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from ablate import plugins
from ablate.errors import AblateError, UnknownComponentError


@dataclass(frozen=True)
class Component:
    """One registered thing: its name, what builds it, and who registered it."""

    kind: str
    name: str
    factory: Any
    description: str
    plugin: str


class DuplicateComponentError(AblateError):
    """Two plugins registered the same name for the same kind."""


class Registry:
    """Everything registered for one kind, by name."""

    def __init__(self, kind: str, hook_name: str) -> None:
        self.kind = kind
        self.hook_name = hook_name
        self._items: dict[str, Component] = {}
        self._generation = -1

    def _collect(self) -> dict[str, Component]:
        if self._generation == plugins.generation():
            return self._items
        items: dict[str, Component] = {}
        current = {"plugin": "?"}

        def register(name: str, factory: Any, description: str = "") -> None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")
            if name in items:
                raise DuplicateComponentError(
                    f"{self.kind} {name!r} is registered by both plugin "
                    f"{items[name].plugin!r} and plugin {current['plugin']!r}"
                )
            items[name] = Component(self.kind, name, factory, description, current["plugin"])

        load = plugins.pm.hook
        for impl in reversed(getattr(load, self.hook_name).get_hookimpls()):
            current["plugin"] = impl.plugin_name
            plugins.trace(f"{self.hook_name} -> {impl.plugin_name}")
            try:
                impl.function(register=register)
            except DuplicateComponentError:
                raise
            except Exception as exc:
                plugins.report_problem(
                    impl.plugin_name, f"{self.hook_name}: {type(exc).__name__}: {exc}"
                )
        for component in items.values():
            info = plugins.infos.get(component.plugin)
            if info is not None:
                names = info.registers.setdefault(self.kind, [])
                if component.name not in names:
                    names.append(component.name)
        self._items = items
        self._generation = plugins.generation()
        return items

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names, optionally filtered with a shell-style wildcard."""
        return sorted(n for n in self._collect() if fnmatch.fnmatch(n, pattern))

    def get(self, name: str) -> Component:
        items = self._collect()
        if name not in items:
            raise UnknownComponentError(
                self.kind[:-1] if self.kind.endswith("s") else self.kind, name, items
            )
        return items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._collect()

    def all(self) -> list[Component]:
        return [self._collect()[n] for n in self.names()]


models = Registry("models", "register_models")
placements = Registry("placements", "register_placements")
schedulers = Registry("schedulers", "register_schedulers")
optimizers = Registry("optimizers", "register_optimizers")
datasets = Registry("datasets", "register_datasets")
studies = Registry("studies", "register_studies")

REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (models, placements, schedulers, optimizers, datasets, studies)
}


def collect_all() -> None:
    """Fill every registry (so plugin infos know what each plugin registers)."""
    for registry in REGISTRIES.values():
        registry.names()
