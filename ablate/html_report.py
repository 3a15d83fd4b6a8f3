"""A study's report as ONE self-contained HTML file: tables, figures, trials, config.

Everything is inline (CSS in ``<style>``, figures as ``data:`` PNGs) and a
Content-Security-Policy forbids any other load, so the file can be mailed, archived or
opened offline and never calls out. Every string that comes from a study, a plugin or a
trial (names, parameters, reasons, notes) is HTML-escaped: a study is user input.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

import optuna

from ablate.figures import PNG_DPI, StudyData, figures
from ablate.records import ENVIRONMENT, TrialRecord
from ablate.summary import Summary, Table, fmt_lr, summarize

STATES = ("complete", "pruned", "failed", "running", "waiting")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CAPTIONS = {
    "curves": "Validation accuracy after each epoch: mean over the complete trials of each "
    "placement (all seeds and other settings), shaded ±1 standard deviation; stars are "
    "published numbers where the study has them.",
    "final": "Final value per placement with its 95% confidence interval (t-distribution "
    "over trials); grey dots are single trials; dashed line: the baseline's mean.",
    "slot-map": "Where normalisation helps: each cell is the mean final accuracy of the "
    "trials with exactly those slots normalised (over seeds and other settings) minus the "
    "baseline's mean, in percentage points (the mean itself when the baseline was not run); "
    "n = trials; 'not run': no such trial.",
    "lr": "Learning rate against the final value of each complete trial; grey marks at the "
    "bottom are trials that failed or were pruned at that learning rate.",
    "importance": "How strongly each searched parameter drives the objective, by Optuna's "
    "default importance evaluator, normalised to sum to 1.",
}
STYLE = """
:root { --fg: #1b1b1b; --muted: #5a5a5a; --line: #d8d8d8; --stripe: #f6f6f6; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1120px; padding: 24px 28px 48px; color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 12px; }
nav { font-size: 14px; margin: 10px 0 0; }
nav a { color: #0072B2; margin-right: 14px; text-decoration: none; }
nav a:hover { text-decoration: underline; }
table { border-collapse: collapse; margin: 4px 0 6px; font-size: 14px;
  font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { text-align: left; background: #efefef; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) td { background: var(--stripe); }
td.r, th.r { text-align: right; white-space: nowrap; }
td.l { text-align: left; }
td.wrap { overflow-wrap: anywhere; max-width: 520px; }
caption { caption-side: top; text-align: left; font-weight: 600; font-size: 15px;
  padding: 6px 0; white-space: nowrap; }
.note { color: var(--muted); font-size: 13px; margin: 2px 0 16px; max-width: 900px; }
.counts { display: flex; gap: 10px; flex-wrap: wrap; margin: 6px 0 12px; }
.count { border: 1px solid var(--line); border-left-width: 6px; border-radius: 4px;
  padding: 6px 14px; min-width: 112px; }
.count b { display: block; font-size: 22px; }
.count.complete { border-left-color: #0072B2; } .count.pruned { border-left-color: #E69F00; }
.count.failed { border-left-color: #D55E00; } .count.running { border-left-color: #56B4E9; }
.count.waiting { border-left-color: #CC79A7; } .count.total { border-left-color: #000; }
.state { font-weight: 600; } .state.failed { color: #B34700; }
.state.pruned { color: #8A5A00; } .state.running { color: #005A8C; }
figure { margin: 18px 0 28px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; max-width: 900px; }
pre { background: var(--stripe); border: 1px solid var(--line); padding: 10px 12px;
  font-size: 12.5px; overflow-x: auto; }
ul.notes li { margin: 2px 0; }
details summary { cursor: pointer; color: #0072B2; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def e(value: Any) -> str:
    """Escape anything for HTML text and attribute values."""
    return escape("" if value is None else str(value), quote=True)


def _breakable(text: str) -> str:
    """Escaped text that may wrap after ``+`` (long placements in narrow columns)."""
    return e(text).replace("+", "+<wbr>")


def html_table(table: Table) -> str:
    """A summary table, formatted cell by cell exactly as the terminal shows it."""
    heads = "".join(
        f'<th class="{"l" if c.justify == "left" else "r"}">{e(c.header)}</th>'
        for c in table.columns
    )
    body = []
    for cells in table.formatted():
        tds = "".join(
            f'<td class="{"l" if c.justify == "left" else "r"}">{_breakable(cell)}</td>'
            for c, cell in zip(table.columns, cells, strict=True)
        )
        body.append(f"<tr>{tds}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(table.columns)}">no complete trials yet</td></tr>')
    note = f'<p class="note">{e(table.note)}</p>' if table.note else ""
    return (
        f'<table id="table-{e(table.name)}"><caption>{e(table.title)}</caption>'
        f"<thead><tr>{heads}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"
    )


def _kv_table(rows: list[tuple[str, Any]], *, head: tuple[str, str] = ("setting", "value")) -> str:
    body = "".join(
        f'<tr><td class="l">{e(k)}</td><td class="wrap">{e(_plain(v))}</td></tr>' for k, v in rows
    )
    heads = f"<th>{e(head[0])}</th><th>{e(head[1])}</th>"
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>"


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str) if value else "-"
    return str(value)


def _params_text(rec: TrialRecord) -> str:
    return ", ".join(
        f"{k}={fmt_lr(v) if k == 'lr' and isinstance(v, int | float) else v}"
        for k, v in rec.params.items()
    )


# ----------------------------------------------------------------- sections


def _trials_section(summary: Summary, data: StudyData) -> str:
    counts = {state: summary.counts.get(state, 0) for state in STATES}
    counts.update({k: v for k, v in summary.counts.items() if k not in counts})
    boxes = "".join(
        f'<div class="count {e(state)}"><b>{n}</b>{e(state)}</div>'
        for state, n in counts.items()
        if n or state in ("complete", "pruned", "failed", "running")
    )
    boxes += f'<div class="count total"><b>{sum(counts.values())}</b>total</div>'
    out = [
        '<h2 id="trials">Trials</h2>',
        f'<div class="counts">{boxes}</div>',
        '<p class="note">Only complete trials enter the tables and figures; the others are '
        "listed here with the reason they stopped.</p>",
    ]
    others = [r for r in data.records if r.state != "complete"]
    if others:
        rows = []
        for rec in others:
            reason = rec.reason or (
                "still running, or its worker stopped without reporting"
                if rec.state == "running"
                else "queued, not started"
                if rec.state == "waiting"
                else ""
            )
            rows.append(
                f'<tr><td class="r">{rec.number}</td>'
                f'<td><span class="state {e(rec.state)}">{e(rec.state)}</span></td>'
                f"<td>{e(rec.status)}</td><td>{_breakable(rec.placement or '-')}</td>"
                f'<td class="r">{e(rec.seed)}</td><td class="wrap">{e(_params_text(rec))}</td>'
                f'<td class="wrap">{e(reason or "-")}</td></tr>'
            )
        table = (
            "<table><thead><tr><th class=r>#</th><th>state</th><th>status</th>"
            "<th>placement</th><th class=r>seed</th><th>parameters</th><th>reason</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
        opened = " open" if len(others) <= 25 else ""
        out.append(
            f"<details{opened}><summary>{len(others)} trials that did not complete</summary>"
            f"{table}</details>"
        )
    return "\n".join(out)


def _notes_section(summary: Summary) -> str:
    if not summary.notes:
        return ""
    items = "".join(f"<li>{e(note)}</li>" for note in summary.notes)
    return f'<h2 id="notes">Notes</h2><ul class="notes">{items}</ul>'


def _tables_section(summary: Summary) -> str:
    return '<h2 id="results">Results</h2>' + "\n".join(html_table(t) for t in summary.tables)


def _figures_section(data: StudyData, summary: Summary) -> str:
    # Reuse the summary's importances: an evaluator may be random, so a second run could disagree
    # with the table, and when the summary found none to show there is no figure either.
    importances: dict[str, float] = {}
    if any(t.name == "importance" for t in summary.tables):
        rows = summary.table("importance").rows
        importances = {str(r["param"]): float(r["importance"]) for r in rows}
    drawn = figures(data, importances=importances)
    parts = ['<h2 id="figures">Figures</h2>']
    if not drawn:
        parts.append('<p class="note">No figures: the study has no complete trials yet.</p>')
    for name, fig in drawn.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=PNG_DPI)
        uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        caption = CAPTIONS.get(name, "")
        parts.append(
            f'<figure id="figure-{e(name)}"><img src="{uri}" alt="{e(caption or name)}">'
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _config_section(data: StudyData) -> str:
    parts = ['<h2 id="config">Configuration</h2>']
    if data.protocol:
        parts.append("<h3>Protocol as run</h3>")
        parts.append(_kv_table(list(data.protocol.items())))
    parts.append(_components(data))
    spec = data.spec
    if spec is not None:
        settings = [
            ("metric", f"{spec.metric} ({spec.direction})"),
            ("seeds per configuration", spec.seeds),
            ("sampler", spec.sampler),
            ("pruner", spec.pruner),
            ("baseline", spec.baseline),
            ("convergence threshold", spec.threshold),
        ]
        parts.append("<h3>Study</h3>" + _kv_table(settings))
        if spec.space:
            space = [(p.name, p.describe()) for p in spec.space]
            parts.append("<h3>Search space</h3>" + _kv_table(space, head=("parameter", "values")))
        definition = json.dumps(spec.model_dump(mode="json"), indent=2, default=str)
        parts.append(
            "<details><summary>Full study definition (JSON)</summary>"
            f"<pre>{e(definition)}</pre></details>"
        )
    else:
        parts.append('<p class="note">This study was not created by ablate.</p>')
    return "\n".join(parts)


def _components(data: StudyData) -> str:
    """The plugins behind the protocol's names, as installed where the report is made."""
    from ablate import registry

    wanted = [
        (kind, str(data.protocol[key]))
        for kind, key in (
            ("models", "model"),
            ("datasets", "dataset"),
            ("optimizers", "optimizer"),
            ("schedulers", "scheduler"),
        )
        if data.protocol.get(key)
    ]
    named = {str(r.config.get("placement")) for r in data.records if r.config.get("placement")}
    if data.spec is not None:
        named.add(data.spec.baseline)
    wanted += [("placements", name) for name in sorted(named)]
    rows = []
    for kind, name in wanted:
        try:
            if name not in registry.REGISTRIES[kind]:
                continue  # a spelled placement such as input+bn:conv2 is no plugin's
            component = registry.REGISTRIES[kind].get(name)
            plugin, description = component.plugin, component.description
        except Exception:
            plugin, description = "-", "not installed where this report was made"
        rows.append(
            f"<tr><td>{e(kind.removesuffix('s'))}</td><td>{e(name)}</td>"
            f'<td>{e(plugin)}</td><td class="wrap">{e(description or "-")}</td></tr>'
        )
    if not rows:
        return ""
    return (
        "<h3>Components</h3><table><thead><tr><th>kind</th><th>name</th><th>plugin</th>"
        f"<th>description</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _environment_section(study: optuna.Study) -> str:
    """The environments the trials ran in; several when workers differed."""
    seen: Counter[str] = Counter()
    for trial in study.get_trials(deepcopy=False):
        env = trial.user_attrs.get(ENVIRONMENT)
        if isinstance(env, dict) and env:
            seen[json.dumps(env, sort_keys=True, default=str)] += 1
    parts = ['<h2 id="environment">Environment</h2>']
    if not seen:
        parts.append('<p class="note">No trial recorded its environment yet.</p>')
        return "\n".join(parts)
    envs = [(json.loads(text), n) for text, n in seen.most_common()]
    keys: list[str] = []
    for env, _ in envs:
        keys += [k for k in env if k not in keys]
    heads = "".join(f"<th>{n} trial{'s' if n != 1 else ''}</th>" for _, n in envs)
    body = "".join(
        f'<tr><td class="l">{e(k)}</td>'
        + "".join(f'<td class="wrap">{e(_plain(env.get(k)))}</td>' for env, _ in envs)
        + "</tr>"
        for k in keys
    )
    parts.append(
        f"<table><thead><tr><th>recorded</th>{heads}</tr></thead><tbody>{body}</tbody></table>"
    )
    return "\n".join(parts)


def render_html(study: optuna.Study) -> str:
    """The whole report as one HTML string (see :func:`write_html`)."""
    from ablate import __version__

    data = StudyData.from_study(study)
    summary = summarize(study)
    description = data.spec.description if data.spec else ""
    total = sum(summary.counts.values())
    done = summary.counts.get("complete", 0)
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(
        f'<a href="#{anchor}">{label}</a>'
        for anchor, label in (
            ("trials", "Trials"),
            ("results", "Results"),
            ("figures", "Figures"),
            ("config", "Configuration"),
            ("environment", "Environment"),
        )
    )
    sections = [
        f"<header><h1>Study {e(data.name)}</h1>",
        f'<p class="lead">{e(description)}</p>' if description else "",
        f'<p class="lead">{done} of {total} trials complete · report generated {e(generated)} '
        f"by ablate {e(__version__)}</p><nav>{nav}</nav></header>",
        _trials_section(summary, data),
        _notes_section(summary),
        _tables_section(summary),
        _figures_section(data, summary),
        _config_section(data),
        _environment_section(study),
        f"<footer>ablate {e(__version__)} · study {e(data.name)} · {e(generated)}</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>ablate report: {e(data.name)}</title>\n"
        f"<style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )


def write_html(study: optuna.Study, path: Path) -> Path:
    """Write the study's self-contained HTML report to ``path`` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(study), encoding="utf-8")
    return path
