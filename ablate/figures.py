"""Figures of a stored study, as matplotlib ``Figure`` objects and PNG/SVG files.

They are drawn with matplotlib's object API (``Figure``, never ``pyplot``), so no display,
no GUI backend and no global figure list are involved: it works headless, in threads,
and leaves the backend of whoever imports ablate (a notebook, say) alone.

Each figure function returns ``None`` when the study has nothing to show for it (one
placement, one lr, no complete trial...), and callers simply skip it. Only complete
trials are drawn; failed, pruned and running ones are counted by the HTML report.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import optuna
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import blended_transform_factory

from ablate.records import PROTOCOL_ATTR, STUDY_ATTR, TrialRecord, records
from ablate.stats import estimate

if TYPE_CHECKING:
    from ablate.study import Study

# Okabe & Ito's colour-blind-safe palette (yellow left out: unreadable on white).
# Black is kept for the baseline, so it reads the same in every figure.
BASELINE_COLOUR = "#000000"
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")
MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", ":", "-.")
MAX_LINES = 8  # curves per plot: more are unreadable, so the best ones and the baseline
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": 8,
}
SAVE_STYLE = {"svg.hashsalt": "ablate"}  # SVG ids that do not change from run to run
PNG_DPI = 150


@dataclass
class StudyData:
    """What the figures read: the trials, the Study definition and the protocol run."""

    name: str
    records: list[TrialRecord]
    spec: Study | None = None
    protocol: dict[str, Any] = field(default_factory=dict)
    optuna_study: optuna.Study | None = None

    @classmethod
    def from_study(cls, study: optuna.Study) -> StudyData:
        from ablate.study import Study

        definition = study.user_attrs.get(STUDY_ATTR)
        spec = Study.model_validate(definition) if definition else None
        protocol = dict(study.user_attrs.get(PROTOCOL_ATTR) or {})
        if not protocol and spec is not None:
            protocol = spec.protocol.model_dump(mode="json")
        return cls(study.study_name, records(study), spec, protocol, study)

    @property
    def done(self) -> list[TrialRecord]:
        return [
            r
            for r in self.records
            if r.state == "complete" and r.value is not None and math.isfinite(r.value)
        ]

    @property
    def metric(self) -> str:
        return self.spec.metric if self.spec else "val_acc"

    @property
    def baseline(self) -> str:
        return self.spec.baseline if self.spec else "none"


def study_data(study: optuna.Study | StudyData) -> StudyData:
    return study if isinstance(study, StudyData) else StudyData.from_study(study)


# ----------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str
    linestyle: str


def metric_label(metric: str) -> str:
    return {
        "val_acc": "final validation accuracy (%)",
        "best_val_acc": "best validation accuracy (%)",
        "val_loss": "final validation loss",
    }.get(metric, metric)


def _scale(metric: str) -> float:
    """Accuracies are stored as fractions and shown in percent; losses as they are."""
    return 1.0 if metric == "val_loss" else 100.0


def context_line(data: StudyData) -> str:
    """Study, dataset and protocol: what every figure's numbers depend on."""
    p = data.protocol
    parts = [f"study {data.name}"]
    if p.get("dataset"):
        subset = f" (first {p['train_size']:,} train images)" if p.get("train_size") else ""
        parts.append(f"{p['dataset']}{subset}")
    if p.get("model"):
        parts.append(str(p["model"]))
    if p.get("epochs"):
        parts.append(f"{p['epochs']} epochs")
    if p.get("batch_size"):
        parts.append(f"batch {p['batch_size']}")
    if p.get("optimizer"):
        parts.append(f"{p['optimizer']}, scheduler {p.get('scheduler', '?')}")
    parts.append(f"{len(data.done)} complete trials")
    lines = [parts[0]]
    for part in parts[1:]:  # wrap between parts, so it fits the narrowest figure
        if len(lines[-1]) + len(part) > 95:
            lines.append(part)
        else:
            lines[-1] += " · " + part
    return "\n".join(lines)


def _matches(rec: TrialRecord, placement: str) -> bool:
    """A placement named in a study (``seed``) matches trials by spelling or by name."""
    return rec.placement == placement or rec.config.get("placement") == placement


def _spelled(data: StudyData, placement: str) -> str:
    for rec in data.records:
        if _matches(rec, placement):
            return rec.placement
    return placement


def _labels(data: StudyData) -> dict[str, str]:
    """``seed (input+bn:conv2+fc1)`` where the config named a registered placement."""
    out: dict[str, str] = {}
    for rec in data.records:
        named = str(rec.config.get("placement", rec.placement))
        if rec.placement not in out:
            out[rec.placement] = rec.placement
        if named != rec.placement and "+" not in named and ":" not in named:
            out[rec.placement] = f"{named} = {rec.placement}"
    return out


def _by_placement(done: list[TrialRecord]) -> dict[str, list[TrialRecord]]:
    groups: dict[str, list[TrialRecord]] = defaultdict(list)
    for rec in done:
        groups[rec.placement].append(rec)
    return groups


def _ranked(data: StudyData) -> list[str]:
    """Placements, best mean final value first (lowest first for a loss)."""
    sign = 1 if data.metric == "val_loss" else -1
    groups = _by_placement(data.done)
    return sorted(groups, key=lambda p: sign * float(np.mean([r.value for r in groups[p]])))


def palette(data: StudyData) -> dict[str, Style]:
    """One style per placement, the same in every figure; the baseline is black."""
    baseline = _spelled(data, data.baseline)
    styles: dict[str, Style] = {}
    others = [p for p in _ranked(data) if p != baseline]
    for i, placement in enumerate(others):
        cycle = i // len(COLOURS)
        styles[placement] = Style(
            COLOURS[i % len(COLOURS)],
            MARKERS[cycle % len(MARKERS)],
            LINESTYLES[cycle % len(LINESTYLES)],
        )
    styles[baseline] = Style(BASELINE_COLOUR, "o", "-")
    return styles


def _literal_text(
    make: Callable[..., Figure | None],
) -> Callable[..., Figure | None]:
    """Names come from users: draw ``$`` literally, never as (possibly broken) mathtext."""

    @functools.wraps(make)
    def wrapper(*args: Any, **kwargs: Any) -> Figure | None:
        fig = make(*args, **kwargs)
        if fig is not None:
            for text in fig.findobj(Text):
                text.set_parse_math(False)
        return fig

    return wrapper


def _figure(data: StudyData, title: str, size: tuple[float, float]) -> tuple[Figure, Any]:
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontweight="bold")
    fig.suptitle(context_line(data), x=0.01, ha="left", color="#444444")
    return fig, ax


# ----------------------------------------------------------------- figures


@_literal_text
def curves_figure(study: optuna.Study | StudyData) -> Figure | None:
    """Validation accuracy per epoch: mean ±1 sd over complete trials, per placement."""
    data = study_data(study)
    groups = _by_placement(data.done)
    curves = {
        p: [r.curves["val_acc"] for r in rs if r.curves.get("val_acc")] for p, rs in groups.items()
    }
    curves = {p: c for p, c in curves.items() if c}
    if not curves:
        return None
    styles = palette(data)
    baseline = _spelled(data, data.baseline)
    shown = [p for p in _ranked(data) if p in curves and p != baseline][: MAX_LINES - 1]
    if baseline in curves:
        shown.append(baseline)
    title = "Validation accuracy per epoch (mean ± 1 sd over seeds and settings)"
    if len(shown) < len(curves):
        title += f"\nonly the best {MAX_LINES - 1} of {len(curves)} placements" + (
            " and the baseline" if baseline in curves else ""
        )
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(data, title, (8.5, 5.0))
        labels = _labels(data)
        for placement in shown:
            epochs, mean, std = _mean_curve(curves[placement])
            style = styles[placement]
            n = len(curves[placement])
            ax.plot(
                epochs,
                100 * mean,
                color=style.colour,
                linestyle=style.linestyle,
                marker=style.marker,
                markersize=3,
                label=f"{labels.get(placement, placement)} (n={n})",
            )
            ax.fill_between(
                epochs,
                np.clip(100 * (mean - std), 0, 100),
                np.clip(100 * (mean + std), 0, 100),
                color=style.colour,
                alpha=0.15,
                linewidth=0,
            )
        _overlay_reference(ax, data, styles, labels)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def _mean_curve(curves: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-epoch mean and sd over the trials that reached that epoch."""
    length = max(len(c) for c in curves)
    mean, std = [], []
    for epoch in range(length):
        values = [c[epoch] for c in curves if len(c) > epoch and math.isfinite(c[epoch])]
        mean.append(np.mean(values) if values else np.nan)
        std.append(np.std(values, ddof=1) if len(values) > 1 else 0.0)
    return np.arange(1, length + 1), np.array(mean), np.array(std)


def _overlay_reference(
    ax: Any, data: StudyData, styles: dict[str, Style], labels: dict[str, str]
) -> None:
    reference = data.spec.reference if data.spec else {}
    for i, (placement, points) in enumerate(reference.items()):
        if not points:
            continue
        spelled = _spelled(data, placement)
        style = styles.get(spelled, Style(COLOURS[i % len(COLOURS)], "o", "-"))
        epochs = sorted(points)
        ax.plot(
            epochs,
            [100 * points[e] for e in epochs],
            linestyle="none",
            marker="*",
            markersize=13,
            markerfacecolor="white",
            markeredgecolor=style.colour,
            markeredgewidth=1.5,
            label=f"published: {labels.get(spelled, placement)}",
        )


@_literal_text
def final_figure(study: optuna.Study | StudyData) -> Figure | None:
    """Final value per placement, best first, with 95% t-intervals and the baseline."""
    data = study_data(study)
    groups = _by_placement(data.done)
    if not groups:
        return None
    scale = _scale(data.metric)
    order = _ranked(data)
    styles, labels = palette(data), _labels(data)
    baseline = _spelled(data, data.baseline)
    height = max(3.0, 0.32 * len(order) + 1.8)
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(
            data, f"{metric_label(data.metric).capitalize()} per placement, 95% CI", (8.5, height)
        )
        rng = np.random.default_rng(0)
        ends: list[float] = []
        for y, placement in enumerate(order):
            values = [r.value for r in groups[placement]]
            est = estimate(values)
            assert est is not None
            style = styles[placement]
            jitter = rng.uniform(-0.18, 0.18, len(values))
            ax.scatter(
                [scale * v for v in values], y + jitter, s=9, color="#999999", zorder=2, linewidth=0
            )
            xerr = None
            ends += [scale * v for v in values]
            if est.low is not None and est.high is not None:
                xerr = [[scale * (est.mean - est.low)], [scale * (est.high - est.mean)]]
                ends += [scale * est.low, scale * est.high]
            ax.errorbar(
                scale * est.mean,
                y,
                xerr=xerr,
                fmt=style.marker,
                color=style.colour,
                markersize=6,
                capsize=3,
                zorder=3,
            )
        if baseline in groups:
            mean = float(np.mean([r.value for r in groups[baseline]]))
            ax.axvline(
                scale * mean,
                color=BASELINE_COLOUR,
                linestyle="--",
                linewidth=1,
                label=f"baseline {labels.get(baseline, baseline)}: {scale * mean:.2f}",
            )
            ax.legend(loc="lower right")
        ax.set_yticks(
            range(len(order)),
            [f"{labels.get(p, p)}  (n={len(groups[p])})" for p in order],
        )
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        label = metric_label(data.metric) + " · grey dots: single trials"
        if data.metric != "val_loss" and (min(ends) < 0 or max(ends) > 100):
            # Few seeds give t-intervals wider than 0..100%: cut them at the bounds.
            low, high = max(0.0, min(ends)), min(100.0, max(ends))
            pad = max(1.0, 0.04 * (high - low))
            ax.set_xlim(max(-pad, low - pad), min(100 + pad, high + pad))
            label += " · CIs cut at 0 and 100%"
        ax.set_xlabel(label)
    return fig


def _flag_groups(data: StudyData) -> tuple[list[str], list[dict[str, bool]], list[str]]:
    """Slots whose on/off varies (merged when always on together), each trial's flags,
    and the slots normalised in every trial."""
    names = ["input", *_model_slots(data)]
    for rec in data.done:
        names += [s for s in rec.slots if s not in names]
    flags = [{"input": rec.input, **{s: True for s in rec.slots}} for rec in data.done]
    groups: dict[tuple[bool, ...], list[str]] = {}
    for name in names:
        pattern = tuple(f.get(name, False) for f in flags)
        if len(set(pattern)) == 2:
            groups.setdefault(pattern, []).append(name)
    merged = ["+".join(g) for g in groups.values()]
    per_trial = [{"+".join(g): f.get(g[0], False) for g in groups.values()} for f in flags]
    always = [n for n in names if flags and all(f.get(n, False) for f in flags)]
    return merged, per_trial, always


def _model_slots(data: StudyData) -> list[str]:
    """The model's slots in its own order (conv1, conv2, fc1, fc2 for LeNet-5)."""
    model = data.protocol.get("model")
    if not model:
        return []
    try:
        from ablate.models import discover_slots

        return [s.name for s in discover_slots(str(model))]
    except Exception:  # a plugin that is not installed here: fall back to the trials
        return []


def _combo_label(names: list[str], combo: tuple[bool, ...]) -> str:
    on = [n for n, v in zip(names, combo, strict=True) if v]
    return " + ".join(on) if on else "none"


@_literal_text
def slot_map_figure(study: optuna.Study | StudyData) -> Figure | None:
    """Where normalisation helps: Δ vs the baseline for each on/off combination of slots.

    The slots are folded in half (rows: input × conv1 × conv2, columns: fc1 × fc2 for
    LeNet-5), so 32 architectures fit on one readable grid; combinations not run are blank.
    """
    data = study_data(study)
    done = data.done
    if len({r.placement for r in done}) < 2:
        return None
    names, flags, always = _flag_groups(data)
    if not names:
        return None
    half = math.ceil(len(names) / 2)
    row_names, col_names = names[:half], names[half:]
    rows = list(itertools.product((False, True), repeat=len(row_names)))
    cols = list(itertools.product((False, True), repeat=len(col_names)))
    cells: dict[tuple[int, int], list[float]] = defaultdict(list)
    for rec, f in zip(done, flags, strict=True):
        row = rows.index(tuple(f[n] for n in row_names))
        col = cols.index(tuple(f[n] for n in col_names))
        cells[row, col].append(rec.value)  # type: ignore[arg-type]
    base = [r.value for r in done if _matches(r, data.baseline)]
    base_flags = [f for r, f in zip(done, flags, strict=True) if _matches(r, data.baseline)]
    base_cell = (
        (
            rows.index(tuple(base_flags[0][n] for n in row_names)),
            cols.index(tuple(base_flags[0][n] for n in col_names)),
        )
        if base_flags
        else None
    )
    base_mean = float(np.mean(base)) if base else None
    scale = _scale(data.metric)
    grid = np.full((len(rows), len(cols)), np.nan)
    counts = np.zeros((len(rows), len(cols)), dtype=int)
    for (row, col), values in cells.items():
        grid[row, col] = scale * (float(np.mean(values)) - (base_mean or 0.0))
        counts[row, col] = len(values)
    loss = data.metric == "val_loss"
    if base_mean is not None:
        unit = "" if loss else " (percentage points)"
        what = f"Δ {'loss' if loss else 'accuracy'} vs {data.baseline}{unit}"
        limit = float(np.nanmax(np.abs(grid))) or 1.0
        cmap, vmin, vmax, text = ("RdBu" if not loss else "RdBu_r"), -limit, limit, "{:+.1f}"
    else:
        what = metric_label(data.metric)
        cmap, vmin, vmax, text = "viridis", float(np.nanmin(grid)), float(np.nanmax(grid)), "{:.1f}"
    title = "Where normalisation helps: " + what
    if base_mean is None:
        title += f"\n(no '{data.baseline}' trials to compare with)"
    width = min(14.0, max(8.5, 3.8 + 1.5 * len(cols)))
    with matplotlib.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = _figure(data, title, (width, max(3.6, 2.0 + 0.45 * len(rows))))
        ax.set_facecolor("#eeeeee")
        image = ax.imshow(
            np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto"
        )
        norm, colormap = image.norm, image.get_cmap()
        for (row, col), value in np.ndenumerate(grid):
            if math.isnan(value):
                ax.text(col, row, "not run", ha="center", va="center", fontsize=7, color="#888888")
                continue
            r, g, b, _ = colormap(norm(value))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            is_base = base_mean is not None and (row, col) == base_cell
            ax.text(
                col,
                row,
                ("baseline" if is_base else text.format(value)) + f"\nn={counts[row, col]}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
        ax.set_xticks(range(len(cols)), [_combo_label(col_names, c) for c in cols])
        ax.set_yticks(range(len(rows)), [_combo_label(row_names, r) for r in rows])
        ax.set_xlabel(
            "normalised among "
            + (", ".join(col_names) or "(nothing else)")
            + (f" · in every trial: {', '.join(always)}" if always else "")
        )
        ax.set_ylabel("normalised among\n" + ", ".join(row_names), fontsize=9)
        ax.tick_params(length=0)
        short = "Δ (percentage points)" if base_mean is not None and not loss else what
        fig.colorbar(image, ax=ax, label=short, shrink=0.9)
    return fig


@_literal_text
def lr_figure(study: optuna.Study | StudyData) -> Figure | None:
    """Learning rate against the final value, one colour per placement."""
    data = study_data(study)
    done = [r for r in data.done if r.lr is not None]
    if len({r.lr for r in done}) < 2:
        return None
    scale = _scale(data.metric)
    styles, labels = palette(data), _labels(data)
    groups = _by_placement(done)
    order = [p for p in _ranked(data) if p in groups]
    dodge = _dodge(sorted({r.lr for r in done}), len(order))  # type: ignore[arg-type]
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(data, "Learning rate vs " + metric_label(data.metric), (8.5, 5.0))
        for i, placement in enumerate(order):
            style = styles[placement]
            ax.scatter(
                [r.lr * dodge(i) for r in groups[placement]],  # type: ignore[operator]
                [scale * r.value for r in groups[placement]],  # type: ignore[operator]
                color=style.colour,
                marker=style.marker,
                s=22,
                alpha=0.85,
                label=labels.get(placement, placement),
            )
        bottom = blended_transform_factory(ax.transData, ax.transAxes)
        for state, marker in (("failed", "x"), ("pruned", "|")):
            lrs = [r.lr for r in data.records if r.state == state and r.lr is not None]
            if lrs:
                ax.scatter(
                    lrs,
                    [0.02] * len(lrs),
                    transform=bottom,
                    marker=marker,
                    color="#666666",
                    s=30,
                    label=f"{state} ({len(lrs)}, no final value)",
                    clip_on=False,
                )
        _log_lr_axis(ax, [r.lr for r in data.records if r.lr is not None])
        spread = " · placements set side by side at each lr" if dodge(0) != 1 else ""
        ax.set_xlabel("learning rate (log scale)" + spread)
        ax.set_ylabel(metric_label(data.metric))
        ax.legend(
            loc="center left",
            bbox_to_anchor=(1.01, 0.5),
            ncols=2 if len(groups) > 16 else 1,
        )
    return fig


def _dodge(lrs: list[float], n: int) -> Callable[[int], float]:
    """A grid of a few lrs stacks every placement on one line: shift each a little."""
    if len(lrs) > 8 or n < 2:
        return lambda i: 1.0
    gap = min(math.log(b / a) for a, b in itertools.pairwise(lrs))
    width = 0.5 * gap
    return lambda i: math.exp(width * (i / (n - 1) - 0.5))


def _log_lr_axis(ax: Any, lrs: list[float]) -> None:
    """A log axis over every lr tried, labelled 0.001 rather than 10^-3, never crowded."""
    low, high = min(lrs), max(lrs)
    ax.set_xscale("log")
    ax.set_xlim(low / 1.4, high * 1.4)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    if math.log10(high / low) < 2:
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(plain)
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())


@_literal_text
def importance_figure(
    study: optuna.Study | StudyData, importances: dict[str, float] | None = None
) -> Figure | None:
    """Optuna's parameter importances (pass them in to reuse the summary's numbers)."""
    data = study_data(study)
    if importances is None:
        if data.optuna_study is None or len(data.done) < 2:
            return None
        try:
            with warnings.catch_warnings():  # "importances will be equal" and the like
                warnings.simplefilter("ignore")
                importances = dict(optuna.importance.get_param_importances(data.optuna_study))
        except Exception:  # too few trials, a single value... nothing to show
            return None
    if len(importances) < 2:
        return None
    items = sorted(importances.items(), key=lambda kv: kv[1])
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(data, "Parameter importance", (8.5, max(2.8, 0.35 * len(items) + 1.6)))
        ax.barh([k for k, _ in items], [v for _, v in items], color=COLOURS[0])
        for y, (_, v) in enumerate(items):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
        ax.set_xlabel("importance (Optuna's default evaluator, normalised to sum to 1)")
        ax.grid(axis="y", visible=False)
    return fig


FIGURES: dict[str, Callable[[StudyData], Figure | None]] = {
    "curves": curves_figure,
    "final": final_figure,
    "slot-map": slot_map_figure,
    "lr": lr_figure,
    "importance": importance_figure,
}


def figures(
    study: optuna.Study | StudyData, importances: dict[str, float] | None = None
) -> dict[str, Figure]:
    """Every figure the study has something to show for, by name, in reading order.

    ``importances`` (e.g. the summary's) replaces Optuna's own computation; ``{}`` skips
    the importance figure.
    """
    data = study_data(study)
    out: dict[str, Figure] = {}
    for name, make in FIGURES.items():
        fig = importance_figure(data, importances) if name == "importance" else make(data)
        if fig is not None:
            out[name] = fig
    return out


def write_figures(study: optuna.Study | StudyData, out_dir: Path) -> list[Path]:
    """Write each figure as ``NAME.png`` and ``NAME.svg`` under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, fig in figures(study).items():
        for suffix, options in ((".png", {"dpi": PNG_DPI}), (".svg", {"metadata": {"Date": None}})):
            path = out_dir / f"{name}{suffix}"
            with matplotlib.rc_context(SAVE_STYLE):
                fig.savefig(path, **options)
            paths.append(path)
    return paths
