"""The HTML report and its figures: self-contained, escaped, honest about failures.

One tiny synthetic grid sweep (16 short trials, half of them diverging) is shared by the
module; figure edge cases use hand-made records, so they cost no training.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState
from PIL import Image

import ablate
from ablate import hookimpl
from ablate.figures import StudyData, figures, slot_map_figure, write_figures
from ablate.html_report import render_html, write_html
from ablate.records import TrialRecord
from ablate.study import Study
from ablate.summary import NOTES_ATTR

XSS_NAME = "<script>alert(1)</script>"
XSS_REASON = "worker said <img src=x onerror=alert(2)> & left"
STUDY = f"""
name = "{XSS_NAME}"
description = "BN <b>placement</b> & friends"
seeds = 2
sampler = "grid"
pruner = "none"

[protocol]
dataset = "synthetic"
optimizer = "html-sgd"
scheduler = "none"
epochs = 2
train_size = 256
test_size = 64

[[space]]
name = "placement.input"
choices = [false, true]

[[space]]
name = "placement.conv2"
choices = [false, true]

[[space]]
name = "lr"
type = "logfloat"
low = 1e-4
high = 1e13
grid = [1e-2, 1e12]
"""
# A console message in Chromium's log, e.g. `INFO:CONSOLE:3] "Uncaught ..."` (older
# builds: `INFO:CONSOLE(3)]`). Chromium logs every level at INFO, so any message counts.
CONSOLE = re.compile(r":CONSOLE[(:]\d+\)?\]\s*(.*)")


class HtmlOptimizer:
    """An inline plugin whose description is markup, to prove the report escapes it."""

    @hookimpl
    def register_optimizers(self, register) -> None:
        register("html-sgd", torch.optim.SGD, "plain SGD, <b>no momentum</b> & no tricks")


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[optuna.Study]:
    """8 complete + 8 diverged (lr 1e12) trials, then one pruned and one running by hand."""
    root = tmp_path_factory.mktemp("report")
    path = root / "study.toml"
    path.write_text(STUDY)
    threads = torch.get_num_threads()
    plugin = ablate.register_plugin(HtmlOptimizer(), name="html-optimizer")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
        mp.setenv("ABLATE_WORKERS", "1")
        torch.set_num_threads(1)
        # A journal file: sqlite's per-commit fsyncs would make this sweep 4x slower.
        study = ablate.sweep(path, progress=False, storage=f"journal:{root / 'ablate.log'}")
        torch.set_num_threads(threads)
    template = next(t for t in study.get_trials() if t.state == TrialState.COMPLETE)
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.PRUNED,
            params=template.params,
            distributions=template.distributions,
            intermediate_values={1: 0.1},
            user_attrs={
                "seed": 7,
                "placement": template.user_attrs["placement"],
                "slots": template.user_attrs["slots"],
                "status": "pruned",
                "reason": XSS_REASON,
            },
        )
    )
    running = study.ask()
    running.set_user_attr("seed", 8)
    study.set_user_attr(NOTES_ATTR, ["note with <i>markup</i>"])
    yield study
    ablate.unregister_plugin(plugin)


@pytest.fixture(scope="module")
def report(swept: optuna.Study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_html(swept, tmp_path_factory.mktemp("html") / "report.html")


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:[a-z]+:)?//""", text, re.I)
    assert "url(" not in text and "@import" not in text and "<link" not in text
    sources = re.findall(r"""\bsrc\s*=\s*["']([^"']*)""", text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(h.startswith("#") for h in re.findall(r"""\bhref\s*=\s*["']([^"']*)""", text))
    for uri in sources:
        png = base64.b64decode(uri.split(",", 1)[1])
        assert Image.open(io.BytesIO(png)).format == "PNG"
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_report_holds_tables_figures_config_and_environment(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert '<table id="table-architectures">' in text and "Per architecture" in text
    assert '<table id="table-slots">' in text
    assert "mean±sd" in text and re.search(r"<td class=\"r\">\d+\.\d\d±\d+\.\d</td>", text)
    for name in ("curves", "final", "slot-map"):
        assert f'<figure id="figure-{name}"><img src="data:image/png;base64,' in text
    assert 'id="figure-lr"' not in text  # lr does not vary among the complete trials
    assert "Protocol as run" in text and "Search space" in text and "placement.conv2" in text
    assert "Full study definition (JSON)" in text
    assert f'<td class="wrap">{torch.__version__}</td>' in text
    assert "ablate" in text and "device_name" in text


def test_report_escapes_every_user_string(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(2)&gt; &amp; left" in text
    assert "<b>placement</b>" not in text and "BN &lt;b&gt;placement&lt;/b&gt; &amp;" in text
    assert "<i>markup</i>" not in text and "note with &lt;i&gt;markup&lt;/i&gt;" in text
    assert "<b>no momentum</b>" not in text and "&lt;b&gt;no momentum&lt;/b&gt; &amp;" in text


def test_report_counts_and_lists_trials_that_did_not_complete(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    for state, n in (("complete", 8), ("pruned", 1), ("failed", 8), ("running", 1)):
        assert f'<div class="count {state}"><b>{n}</b>{state}</div>' in text, state
    assert '<div class="count total"><b>18</b>total</div>' in text
    assert "10 trials that did not complete" in text
    assert text.count('<span class="state failed">failed</span>') == 8
    assert "training loss became nan" in text and "lr=1.0e+12" in text
    assert "still running, or its worker stopped" in text
    assert "failed trials: 8 diverged" in text


def test_write_figures_writes_png_and_svg(swept: optuna.Study, tmp_path: Path) -> None:
    paths = write_figures(swept, tmp_path / "plots")
    names = sorted(p.name for p in paths)
    assert {"curves.png", "curves.svg", "final.png", "slot-map.svg"} <= set(names)
    assert len(names) % 2 == 0 and all(p.stat().st_size > 1000 for p in paths)
    for path in paths:
        if path.suffix == ".png":
            assert Image.open(path).size[0] >= 1000
        else:
            assert "<svg" in path.read_text()[:2000]


def _record(number: int, placement: str, slots: dict[str, str], value: float | None, **kw):
    state = kw.pop("state", "complete" if value is not None else "failed")
    return TrialRecord(
        number=number,
        state=state,
        status=kw.pop("status", "completed" if state == "complete" else state),
        reason=kw.pop("reason", ""),
        params=kw.pop("params", {}),
        seed=kw.pop("seed", number % 2),
        placement=placement,
        slots=slots,
        input=placement.startswith("input"),
        value=value,
        curves={"val_acc": [value / 2, value]} if value is not None else {},
        config=kw.pop("config", {}),
    )


def test_figures_fold_unknown_slots_and_skip_what_cannot_be_drawn() -> None:
    slots = [f"s{i}" for i in range(6)]
    recs = [
        _record(
            i,
            ("input+" if i % 2 else "") + ("bn:" + "+".join(on) if on else "none"),
            dict.fromkeys(on, "batch"),
            0.5 + 0.01 * i,
            params={"lr": 1e-3 * (1 + i % 3)},
        )
        for i, on in enumerate([slots[: k % 7] for k in range(14)])
    ]
    recs[0] = _record(0, "none", {}, 0.4, params={"lr": 1e-3})
    recs.append(_record(99, "input", {}, None, reason="diverged", params={"lr": 10.0}))
    name = r"costs $\notacommand$ (mathtext would fail)"
    data = StudyData(name, recs, Study(name="mlp"), {"model": "not-installed", "epochs": 2})
    drawn = figures(data)
    assert set(drawn) == {"curves", "final", "slot-map", "lr"}  # no optuna study: no importance
    for fig in drawn.values():
        fig.savefig(io.BytesIO(), format="png", dpi=40)
    heat = slot_map_figure(data)
    assert heat is not None
    ax = heat.axes[0]
    assert len(ax.get_yticks()) == 16 and len(ax.get_xticks()) == 8  # 7 flags folded 4 + 3
    one = StudyData("one", [_record(0, "none", {}, 0.5), _record(1, "none", {}, 0.6)], None)
    assert set(figures(one)) == {"curves", "final"}
    nothing = StudyData("failed", [_record(0, "none", {}, None)], None)
    assert figures(nothing) == {}


def test_report_of_a_foreign_study_with_no_complete_trial(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="plain & simple")
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    text = write_html(study, tmp_path / "r.html").read_text()
    assert "plain &amp; simple" in text and "No figures" in text
    assert '<div class="count failed"><b>1</b>failed</div>' in text
    assert render_html(study).count("<table") >= 2


def _console_messages(page: Path, tmp_path: Path, shot: Path) -> tuple[int, list[str]]:
    """Load ``page`` in headless Chromium; return its exit code and console messages."""
    profile = tmp_path / f"profile-{page.stem}"
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",  # the top of the page: header, counts, trials, tables
        "--enable-logging=stderr",
        "--v=0",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, CONSOLE.findall(done.stderr)


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="needs Debian's chromium (CI installs it, so this always runs there)",
)
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    # The detector must see a deliberate error first, or a silent pass would mean nothing.
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><p>x</p><script>undefinedFunction()</script>")
    code, messages = _console_messages(broken, tmp_path, tmp_path / "broken.png")
    assert code == 0 and any("Uncaught ReferenceError" in m for m in messages), messages

    shot = tmp_path / "shot.png"
    code, messages = _console_messages(report, tmp_path, shot)
    assert code == 0
    assert messages == []  # no script errors, no blocked (external) loads
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2000)
    pixels = np.asarray(image).reshape(-1, 3)
    colours = len(np.unique(pixels, axis=0))
    inked = float((pixels.sum(axis=1) < 720).mean())  # clearly darker than white
    assert colours > 200 and inked > 0.03, (colours, inked)
