"""Tables for ``ablate list`` and ``ablate plugins``."""

from __future__ import annotations

from rich import box
from rich.table import Table

from ablate import plugins, registry


def _slots_text(name: str) -> str:
    from ablate.models import discover_slots

    try:
        slots = discover_slots(name)
    except Exception as exc:  # a broken third-party model must not break the listing
        return f"(cannot build: {type(exc).__name__})"
    return ", ".join(f"{s.name}({s.num_features})" for s in slots) or "-"


def _placement_text(value: object) -> str:
    from ablate.models import resolve_placement
    from ablate.placement import Placement

    value = value() if callable(value) and not isinstance(value, Placement) else value
    try:
        return resolve_placement(value if isinstance(value, Placement) else str(value)).spelled()
    except Exception:
        return str(value)


def component_table(kind: str, pattern: str = "*") -> Table:
    reg = registry.REGISTRIES[kind]
    table = Table(title=f"{kind} ({len(reg.names(pattern))})", box=box.SIMPLE_HEAD)
    table.add_column("name", style="bold", no_wrap=True)
    if kind == "models":
        table.add_column("slots")
    if kind == "placements":
        table.add_column("spelled")
    table.add_column("description")
    table.add_column("plugin", style="dim")
    for name in reg.names(pattern):
        comp = reg.get(name)
        extra: list[str] = []
        if kind == "models":
            extra = [_slots_text(name)]
        elif kind == "placements":
            extra = [_placement_text(comp.factory)]
        description = comp.description
        if kind == "studies" and not description:
            from ablate.study import get_study

            description = get_study(name).description
        table.add_row(name, *extra, description, comp.plugin)
    return table


def plugins_table() -> Table:
    plugins.load_plugins()
    registry.collect_all()
    table = Table(title="plugins", box=box.SIMPLE_HEAD)
    for column in ("name", "version", "source", "registers"):
        table.add_column(column, no_wrap=column != "registers")
    for name in sorted(plugins.infos):
        info = plugins.infos[name]
        registers = (
            "; ".join(
                f"{kind}: {', '.join(names)}" for kind, names in sorted(info.registers.items())
            )
            or "hooks only"
        )
        table.add_row(info.name, info.version, info.source, registers)
    for problem in plugins.problems:
        table.add_row(problem.name, "-", "failed", problem.error, style="red")
    return table
