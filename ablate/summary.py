"""The answer of a study, as data: tables built from stored trials, rendered on demand.

``summarize(study)`` reads only Optuna's storage, so ``ablate report`` re-renders what
``ablate sweep`` printed without training anything.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from rich import box
from rich.console import Console, Group
from rich.table import Table as RichTable
from rich.text import Text

from ablate.records import NOTES_ATTR, STUDY_ATTR, TrialRecord, records
from ablate.stats import estimate, welch


@dataclass
class Column:
    """A displayed column; ``sources`` joins several raw fields into one cell."""

    key: str
    header: str
    fmt: Callable[[Any], str] = str
    justify: str = "right"
    sources: tuple[str, ...] = ()

    def value(self, row: dict[str, Any]) -> Any:
        if self.sources:
            values = tuple(row.get(k) for k in self.sources)
            return None if values[0] is None else values
        return row.get(self.key)


@dataclass
class Table:
    """A summary table: raw values in ``rows``, formatting in ``columns``."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "note": self.note,
            "fields": self.fields(),
            "rows": self.rows,
        }

    def fields(self) -> list[str]:
        """The raw fields of the rows, in order (what JSON and CSV carry)."""
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        return keys

    def formatted(self) -> list[list[str]]:
        return [[c.fmt(c.value(row)) for c in self.columns] for row in self.rows]

    def rich(self) -> RichTable:
        table = RichTable(
            title=self.title,
            box=box.SIMPLE_HEAD,
            title_justify="left",
            caption=self.note or None,
            caption_justify="left",
            padding=(0, 1),
            min_width=min(78, len(self.title) + 2),
        )
        for column in self.columns:
            left = column.justify == "left"
            table.add_column(
                column.header,
                min_width=len(column.header),
                justify=column.justify,  # type: ignore[arg-type]
                overflow="fold",
                no_wrap=not left,
            )
        for cells in self.formatted():
            # Let long placements wrap between their parts on narrow terminals.
            table.add_row(
                *(
                    cell.replace("+", " +") if c.key in ("placement", "slot") else cell
                    for c, cell in zip(self.columns, cells, strict=True)
                )
            )
        return table


@dataclass
class Summary:
    """Everything ``ablate report`` shows, as data."""

    study: str
    counts: dict[str, int]
    notes: list[str]
    tables: list[Table]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "counts": self.counts,
            "notes": self.notes,
            "tables": [t.to_dict() for t in self.tables],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    def to_markdown(self) -> str:
        out = [f"# Study `{self.study}`", "", _counts_line(self.counts)]
        out += [f"- {note}" for note in self.notes]
        for table in self.tables:
            out += ["", f"## {table.title}", ""]
            out.append("| " + " | ".join(c.header for c in table.columns) + " |")
            out.append(
                "|"
                + "|".join("---:" if c.justify == "right" else "---" for c in table.columns)
                + "|"
            )
            for cells in table.formatted():
                out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
            if table.note:
                out += ["", table.note]
        return "\n".join(out) + "\n"

    def to_csv(self) -> str:
        """One CSV block per table, each headed by a ``# table: NAME`` line."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for index, table in enumerate(self.tables):
            if index:
                buffer.write("\n")
            buffer.write(f"# table: {table.name}\n")
            fields = table.fields()
            writer.writerow(fields)
            for row in table.rows:
                writer.writerow(["" if row.get(k) is None else row.get(k) for k in fields])
        return buffer.getvalue()

    def renderable(self) -> Group:
        parts: list[Any] = [Text(f"Study {self.study}: {_counts_line(self.counts)}", style="bold")]
        parts += [Text(f"  {note}") for note in self.notes]
        parts += [t.rich() for t in self.tables]
        return Group(*parts)

    def render(self, console: Console | None = None) -> None:
        (console or Console()).print(self.renderable())


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _counts_line(counts: dict[str, int]) -> str:
    order = ("complete", "pruned", "failed", "running", "waiting")
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    total = sum(counts.values())
    return f"{total} trials" + (f" ({', '.join(parts)})" if parts else "")


# --------------------------------------------------------------- formatting


def fmt_pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def fmt_signed_pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:+.2f}"


def fmt_p(value: Any) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_lr(value: Any) -> str:
    return "-" if value is None else f"{value:.1e}"


def fmt_any(value: Any) -> str:
    return "-" if value is None else str(value)


def fmt_ci(pair: Any) -> str:
    if not pair or pair[0] is None:
        return "-"
    return f"{100 * pair[0]:.1f}..{100 * pair[1]:.1f}"


def fmt_mean_std(pair: Any) -> str:
    if not pair:
        return "-"
    return f"{100 * pair[0]:.2f}±{100 * pair[1]:.1f}"


def fmt_importance(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} " + "█" * round(20 * value)


# ------------------------------------------------------------------- tables


def _metric_scale(metric: str) -> bool:
    return metric != "val_loss"


def architecture_table(
    done: list[TrialRecord], every: list[TrialRecord], baseline: str, threshold: float, metric: str
) -> Table:
    by_placement: dict[str, list[TrialRecord]] = defaultdict(list)
    for rec in done:
        by_placement[rec.placement].append(rec)
    others = Counter(r.placement for r in every if r.state in ("pruned", "failed"))
    base_values = [r.value for r in by_placement.get(baseline, []) if r.value is not None]
    rows = []
    for placement, group in by_placement.items():
        values = [r.value for r in group if r.value is not None]
        est = estimate(values)
        diff = welch(values, base_values) if placement != baseline and base_values else None
        rows.append(
            {
                "placement": placement,
                "trials": len(group),
                "pruned_or_failed": others.get(placement, 0),
                "seeds": len({r.seed for r in group}),
                "mean": est.mean if est else None,
                "std": est.std if est else None,
                "ci_low": est.low if est else None,
                "ci_high": est.high if est else None,
                "delta": diff.delta if diff else None,
                "p": diff.p if diff else None,
                "epoch_to_threshold": _epoch_reaching(group, threshold),
                "best_lr": _best_lr(group),
            }
        )
    descending = metric != "val_loss"
    rows.sort(key=lambda r: (r["mean"] is None, -(r["mean"] or 0) if descending else r["mean"]))
    pct = _metric_scale(metric)
    value_fmt = fmt_mean_std if pct else (lambda v: "-" if not v else f"{v[0]:.4f}±{v[1]:.4f}")
    return Table(
        name="architectures",
        title=f"Per architecture: final {metric} (%), over seeds",
        columns=[
            Column("placement", "placement", justify="left"),
            Column("trials", "n"),
            Column("mean_std", "mean±sd", value_fmt, sources=("mean", "std")),
            Column("ci", "95% CI", fmt_ci if pct else fmt_any, sources=("ci_low", "ci_high")),
            Column("delta", f"Δ {baseline}", fmt_signed_pct if pct else fmt_any),
            Column("p", "p", fmt_p),
            Column("epoch_to_threshold", f"ep≥{100 * threshold:g}", fmt_any),
            Column("best_lr", "best lr", fmt_lr),
        ],
        rows=rows,
        note=(
            f"n: complete trials (pruned and failed ones are counted above); mean over "
            f"seeds and the rest of the space; Δ and p: Welch's t-test against "
            f"'{baseline}'; ep≥{100 * threshold:g}: first epoch where the mean curve reaches "
            f"{100 * threshold:g}%; best lr: lr of the best configuration (mean over seeds)."
        ),
    )


def _epoch_reaching(group: list[TrialRecord], threshold: float) -> int | None:
    curves = [r.curves.get("val_acc") for r in group if r.curves.get("val_acc")]
    if not curves:
        return None
    length = min(len(c) for c in curves)
    for epoch in range(length):
        if sum(c[epoch] for c in curves) / len(curves) >= threshold:
            return epoch + 1
    return None


def _best_lr(group: list[TrialRecord]) -> float | None:
    by_config: dict[str, list[TrialRecord]] = defaultdict(list)
    for rec in group:
        by_config[rec.key].append(rec)
    best = max(
        by_config.values(), default=None, key=lambda rs: sum(r.value or 0 for r in rs) / len(rs)
    )
    return best[0].lr if best else None


def _slot_flags(rec: TrialRecord) -> dict[str, bool]:
    flags = {"input": rec.input}
    flags.update({slot: True for slot in rec.slots})
    return flags


def slot_tables(done: list[TrialRecord], metric: str) -> list[Table]:
    """Marginal effect of each slot (and of input standardisation), and its interactions."""
    slots: list[str] = ["input"]
    for rec in done:
        slots += [s for s in rec.slots if s not in slots]
    flags = [_slot_flags(rec) for rec in done]
    # Slots that are always on together cannot be told apart: report them as one.
    groups: dict[tuple[bool, ...], list[str]] = {}
    for slot in slots:
        pattern = tuple(f.get(slot, False) for f in flags)
        if len(set(pattern)) == 2:
            groups.setdefault(pattern, []).append(slot)
    varying = ["+".join(names) for names in groups.values()]
    if not varying:
        return []
    for f in flags:
        for names in groups.values():
            f["+".join(names)] = f.get(names[0], False)
    pct = _metric_scale(metric)
    rows, inter_rows = [], []
    bands = (("lr<1e-3", 0, 1e-3), ("1e-3≤lr<1e-2", 1e-3, 1e-2), ("lr≥1e-2", 1e-2, math.inf))
    for slot in varying:
        on = [r.value for r, f in zip(done, flags, strict=True) if f.get(slot)]
        off = [r.value for r, f in zip(done, flags, strict=True) if not f.get(slot)]
        diff = welch(on, off)
        rows.append(
            {
                "slot": slot,
                "n_on": len(on),
                "n_off": len(off),
                "mean_on": sum(on) / len(on),
                "mean_off": sum(off) / len(off),
                "delta": diff.delta if diff else None,
                "ci_low": diff.low if diff else None,
                "ci_high": diff.high if diff else None,
                "p": diff.p if diff else None,
            }
        )
        inter: dict[str, Any] = {"slot": slot}
        for label, when in (("input_off", False), ("input_on", True)):
            if "input" in slot.split("+"):
                inter[label] = None
                continue
            sub = [(r, f) for r, f in zip(done, flags, strict=True) if f["input"] == when]
            d = welch(
                [r.value for r, f in sub if f.get(slot)],
                [r.value for r, f in sub if not f.get(slot)],
            )
            inter[label] = d.delta if d else None
        for label, low, high in bands:
            sub = [
                (r, f)
                for r, f in zip(done, flags, strict=True)
                if r.lr is not None and low <= r.lr < high
            ]
            d = welch(
                [r.value for r, f in sub if f.get(slot)],
                [r.value for r, f in sub if not f.get(slot)],
            )
            inter[label] = d.delta if d else None
        inter_rows.append(inter)
    delta_fmt = fmt_signed_pct if pct else fmt_any
    tables = [
        Table(
            name="slots",
            title=f"Per slot: effect of normalising it on final {metric} (%)",
            columns=[
                Column("slot", "slot", justify="left"),
                Column("n_on", "n on"),
                Column("n_off", "n off"),
                Column("mean_on", "mean on", fmt_pct if pct else fmt_any),
                Column("mean_off", "mean off", fmt_pct if pct else fmt_any),
                Column("delta", "Δ", delta_fmt),
                Column(
                    "ci", "95% CI of Δ", fmt_ci if pct else fmt_any, sources=("ci_low", "ci_high")
                ),
                Column("p", "p", fmt_p),
            ],
            rows=rows,
            note="Δ = mean with the slot normalised - mean without, averaged over the rest of "
            "the space (Welch's t-test); slots joined by + are only ever normalised together.",
        )
    ]
    has_lr = any(r.lr is not None for r in done) and len({r.lr for r in done}) > 1
    columns = [
        Column("slot", "slot", justify="left"),
        Column("input_off", "input off", delta_fmt),
        Column("input_on", "input on", delta_fmt),
    ]
    if has_lr:
        columns += [Column(label, label, delta_fmt) for label, _, _ in bands]
    if all(row.get(c.key) is None for row in inter_rows for c in columns[1:]):
        return tables
    tables.append(
        Table(
            name="interactions",
            title="Interactions: Δ of each slot (%) with input off/on"
            + (", by lr band" if has_lr else ""),
            columns=columns,
            rows=inter_rows,
            note="- : not enough trials on one side to compare.",
        )
    )
    return tables


def importance_table(study: optuna.Study, done: list[TrialRecord]) -> Table | None:
    if len(done) < 4 or not any(
        len({str(r.params.get(k)) for r in done}) > 1 for k in done[0].params
    ):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
    except Exception:
        return None
    if not importances:
        return None
    rows = [{"param": k, "importance": float(v)} for k, v in importances.items()]
    return Table(
        name="importance",
        title="Parameter importance (Optuna's default evaluator)",
        columns=[
            Column("param", "parameter", justify="left"),
            Column("importance", "importance", fmt_importance, justify="left"),
        ],
        rows=rows,
    )


def reference_table(done: list[TrialRecord], reference: dict[str, dict[int, float]]) -> Table:
    rows = []
    for placement, points in reference.items():
        group = [
            r for r in done if r.placement == placement or r.config.get("placement") == placement
        ]
        for epoch, published in sorted(points.items()):
            values = [
                r.curves["val_acc"][epoch - 1]
                for r in group
                if len(r.curves.get("val_acc", [])) >= epoch
            ]
            est = estimate(values)
            rows.append(
                {
                    "placement": placement,
                    "epoch": epoch,
                    "reference": published,
                    "ours_mean": est.mean if est else None,
                    "ci_low": est.low if est else None,
                    "ci_high": est.high if est else None,
                    "n": len(values),
                    "delta": (est.mean - published) if est else None,
                }
            )
    return Table(
        name="reference",
        title="Published numbers beside ours (val accuracy, %)",
        columns=[
            Column("placement", "placement", justify="left"),
            Column("epoch", "epoch"),
            Column("reference", "published", fmt_pct),
            Column("ours_mean", "ours (mean)", fmt_pct),
            Column("ci", "95% CI", fmt_ci, sources=("ci_low", "ci_high")),
            Column("n", "seeds"),
            Column("delta", "ours - pub.", fmt_signed_pct),
        ],
        rows=rows,
        note="'-': this sweep did not run that many epochs.",
    )


def best_configs_table(done: list[TrialRecord], metric: str, limit: int = 5) -> Table:
    by_config: dict[str, list[TrialRecord]] = defaultdict(list)
    for rec in done:
        by_config[rec.key].append(rec)
    rows = []
    for group in by_config.values():
        values = [r.value for r in group if r.value is not None]
        if not values:
            continue
        params = {k: v for k, v in group[0].params.items() if not k.startswith("placement")}
        text = " ".join(f"{k}={fmt_lr(v) if k == 'lr' else v}" for k, v in params.items())
        rows.append(
            {
                "placement": group[0].placement,
                "params": text,
                "seeds": len(values),
                "mean": sum(values) / len(values),
            }
        )
    rows.sort(key=lambda r: -r["mean"] if metric != "val_loss" else r["mean"])
    pct = _metric_scale(metric)
    return Table(
        name="best",
        title="Best configurations so far",
        columns=[
            Column("placement", "placement", justify="left"),
            Column("params", "other settings", justify="left"),
            Column("seeds", "seeds"),
            Column("mean", f"mean {metric}", fmt_pct if pct else fmt_any),
        ],
        rows=rows[:limit],
    )


def summarize(
    study: optuna.Study, *, console: Console | None = None, show: bool = False
) -> Summary:
    """Build the summary tables of a stored study (and print them if ``show``)."""
    from ablate.study import Study

    definition = study.user_attrs.get(STUDY_ATTR)
    spec = Study.model_validate(definition) if definition else None
    metric = spec.metric if spec else "val_acc"
    baseline = spec.baseline if spec else "none"
    threshold = spec.threshold if spec else 0.88
    every = records(study)
    done = [r for r in every if r.state == "complete" and r.value is not None]
    counts = dict(Counter(r.state for r in every))
    notes = list(study.user_attrs.get(NOTES_ATTR, []))
    failed = Counter(r.status for r in every if r.state == "failed")
    if failed:
        notes.append("failed trials: " + ", ".join(f"{n} {s}" for s, n in failed.items()))
    tables = [architecture_table(done, every, baseline, threshold, metric)]
    tables += slot_tables(done, metric)
    importance = importance_table(study, done)
    if importance is not None:
        tables.append(importance)
    if spec and spec.reference:
        tables.append(reference_table(done, spec.reference))
    summary = Summary(study=study.study_name, counts=counts, notes=notes, tables=tables)
    if show:
        summary.render(console)
    return summary
