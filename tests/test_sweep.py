"""``ablate sweep`` / ``report`` / ``studies`` on synthetic data with tiny budgets."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

import ablate
from ablate.study import Study, get_study, load_study_file, study_to_toml
from conftest import ablate_command, subprocess_env

GRID_STUDY = """
name = "tiny-grid"
seeds = 2
sampler = "grid"
pruner = "none"

[protocol]
dataset = "synthetic"
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
high = 1e-1
grid = [1e-3, 1e-2]
"""


def write_study(tmp_path: Path, text: str = GRID_STUDY, name: str = "tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def test_grid_sweep_completes_and_stores_every_trial(tmp_path: Path, cli) -> None:
    out = cli("sweep", "--no-report", "--study", write_study(tmp_path), "--quiet")
    assert out.code == 0, out.err
    study = load("sqlite:///ablate.db", "tiny-grid")
    trials = study.get_trials()
    assert len(trials) == 16 and all(t.state.name == "COMPLETE" for t in trials)
    pairs = Counter((json.dumps(t.params, sort_keys=True), t.user_attrs["seed"]) for t in trials)
    assert len(pairs) == 16 and set(pairs.values()) == {1}
    first = trials[0]
    assert first.user_attrs["config"]["dataset"] == "synthetic"
    assert len(first.user_attrs["curves"]["val_acc"]) == 2
    assert sorted(first.intermediate_values) == [1, 2]
    assert first.user_attrs["environment"]["torch"]
    assert first.user_attrs["status"] == "completed"
    assert "Per architecture" in out.out and "Per slot" in out.out


def test_report_matches_what_sweep_printed(tmp_path: Path, cli) -> None:
    swept = cli("sweep", "--no-report", "--study", write_study(tmp_path), "--quiet")
    reported = cli("report", "--study", "tiny-grid")
    assert reported.code == 0 and reported.out == swept.out
    as_json = json.loads(cli("report", "--study", "tiny-grid", "--format", "json").out)
    names = [t["name"] for t in as_json["tables"]]
    assert names[:2] == ["architectures", "slots"]
    arch = as_json["tables"][0]["rows"]
    assert {r["placement"] for r in arch} == {"none", "input", "bn:conv2", "input+bn:conv2"}
    assert sum(r["trials"] for r in arch) == 16
    csv = cli("report", "--study", "tiny-grid", "--format", "csv").out
    assert csv.startswith("# table: architectures\nplacement,trials")
    markdown = cli("report", "--study", "tiny-grid", "--format", "markdown").out
    assert "| placement | n | mean±sd |" in markdown


def test_rerun_resumes_and_larger_budget_extends(tmp_path: Path, cli) -> None:
    path = write_study(tmp_path)
    assert cli("sweep", "--no-report", "--study", path, "--n-trials", "6", "--quiet").code == 0
    study = load("sqlite:///ablate.db", "tiny-grid")
    assert len(study.get_trials()) == 6
    numbers_before = {t.number: t.params for t in study.get_trials()}
    again = cli("sweep", "--no-report", "--study", path, "--n-trials", "6")
    assert again.code == 0 and "resuming: 6 trials already done" in again.err
    assert len(load("sqlite:///ablate.db", "tiny-grid").get_trials()) == 6
    assert cli("sweep", "--no-report", "--study", path, "--n-trials", "10", "--quiet").code == 0
    trials = load("sqlite:///ablate.db", "tiny-grid").get_trials()
    assert len(trials) == 10
    assert {t.number: t.params for t in trials[:6]} == numbers_before


def test_tpe_sweep_repeats_each_configuration_over_seeds(tmp_path: Path) -> None:
    text = GRID_STUDY.replace('sampler = "grid"', 'sampler = "random"').replace(
        "seeds = 2", "seeds = 3"
    )
    study = ablate.sweep(write_study(tmp_path, text), n_trials=7, progress=False)
    trials = study.get_trials()
    assert len(trials) == 9  # 7 rounded up to 3 configurations x 3 seeds
    by_config = Counter(json.dumps(t.params, sort_keys=True) for t in trials)
    assert set(by_config.values()) == {3}
    summary = ablate.summarize(study)
    assert summary.table("architectures").rows


def test_pruning_happens_and_is_reported(tmp_path: Path, cli) -> None:
    text = """
name = "prune-me"
seeds = 1
sampler = "random"
pruner = "median"
[protocol]
dataset = "synthetic"
epochs = 4
train_size = 256
test_size = 64
optimizer = "sgd"
[[space]]
name = "lr"
type = "logfloat"
low = 1e-6
high = 0.5
"""
    out = cli(
        "sweep",
        "--no-report",
        "--study",
        write_study(tmp_path, text),
        "--n-trials",
        "20",
        "--quiet",
    )
    assert out.code == 0, out.err
    study = load("sqlite:///ablate.db", "prune-me")
    pruned = [t for t in study.get_trials() if t.state.name == "PRUNED"]
    assert pruned, "the median pruner never pruned"
    assert all(t.user_attrs["status"] == "pruned" for t in pruned)
    assert "pruned" in pruned[0].user_attrs["reason"]
    assert f"{len(pruned)} pruned" in out.out


def test_diverged_trial_is_failed_with_reason_and_sweep_goes_on(tmp_path: Path) -> None:
    text = GRID_STUDY.replace(
        "high = 1e-1\ngrid = [1e-3, 1e-2]", "high = 1e13\ngrid = [1e-3, 1e12]"
    ).replace(
        'dataset = "synthetic"', 'dataset = "synthetic"\noptimizer = "sgd"\nscheduler = "none"'
    )
    study = ablate.sweep(write_study(tmp_path, text), progress=False)
    states = Counter(t.state.name for t in study.get_trials())
    assert states["COMPLETE"] == 8 and states["FAIL"] == 8
    failed = [t for t in study.get_trials() if t.state.name == "FAIL"]
    assert all(t.user_attrs["status"] == "diverged" for t in failed)
    summary = ablate.summarize(study)
    assert "8 diverged" in " ".join(summary.notes)


def test_same_name_with_different_space_is_refused(tmp_path: Path, cli) -> None:
    assert (
        cli(
            "sweep", "--no-report", "--study", write_study(tmp_path), "--n-trials", "2", "--quiet"
        ).code
        == 0
    )
    changed = write_study(
        tmp_path, GRID_STUDY.replace("grid = [1e-3, 1e-2]", "grid = [0.05]"), "changed.toml"
    )
    out = cli("sweep", "--no-report", "--study", changed, "--quiet")
    assert out.code == 2
    assert "different search space" in out.err and "--name" in out.err
    shorter = cli(
        "sweep", "--no-report", "--study", write_study(tmp_path), "--epochs", "1", "--quiet"
    )
    assert shorter.code == 2 and "epochs 2 -> 1" in shorter.err


def test_toml_study_round_trips() -> None:
    for name in ("bn-placement", "seed"):
        study = get_study(name)
        assert Study.model_validate(__import__("tomllib").loads(study_to_toml(study))) == study


def test_toml_study_from_file_uses_file_name(tmp_path: Path) -> None:
    path = write_study(tmp_path, GRID_STUDY.replace('name = "tiny-grid"\n', ""), "mine.toml")
    assert load_study_file(path).name == "mine"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('colour = "red"\n', "unknown key colour"),
        ("seeds = 0\n", "seeds=0"),
        ('[[space]]\nname = "lr"\ntype = "logfloat"\nlow = 0\nhigh = 1\n', "low > 0"),
        ('[[space]]\nname = "wibble"\nchoices = [1, 2]\n', "'wibble' sets nothing"),
        ('[[space]]\nname = "placement.conv1"\nchoices = ["maybe"]\n', "true/false or a norm kind"),
        ('[[space]]\nname = "lr"\ntype = "float"\nlow = 1\nhigh = 0.5\n', "low must be below high"),
        (
            '[[space]]\nname = "scheduler"\nchoices = ["step"]\ncondition = {lr = [1]}\n',
            "not an earlier parameter",
        ),
    ],
)
def test_bad_studies_are_refused(tmp_path: Path, snippet: str, message: str, cli) -> None:
    text = 'name = "bad"\n' + snippet if snippet.startswith("[[") else snippet + 'name = "bad"\n'
    out = cli("sweep", "--no-report", "--study", write_study(tmp_path, text, "bad.toml"))
    assert out.code == 2 and message in out.err, out.err
    assert out.err.count("\n") == 1


def test_unknown_study_and_bad_storage_are_one_line_errors(cli) -> None:
    out = cli("sweep", "--no-report", "--study", "bn-placment")
    assert out.code == 2 and "did you mean 'bn-placement'" in out.err
    out = cli("report", "--study", "seed", "--storage", "postgresql://me:hunter2@127.0.0.1:1/x")
    assert out.code == 2 and "hunter2" not in out.err and "***" in out.err
    out = cli("report", "--study", "nothing-here")
    assert out.code == 2 and "no study 'nothing-here'" in out.err


def test_grid_needs_grid_values_for_continuous_params(tmp_path: Path, cli) -> None:
    text = GRID_STUDY.replace("grid = [1e-3, 1e-2]\n", "")
    out = cli("sweep", "--no-report", "--study", write_study(tmp_path, text), "--quiet")
    assert out.code == 2 and "give it grid values" in out.err


def test_studies_lists_search_spaces(cli) -> None:
    out = cli("studies").out
    assert "bn-placement" in out and "placement.conv1" in out and "logfloat" in out
    assert "seed" in out


def test_bn_placement_on_cpu_uses_a_short_budget_and_says_so() -> None:
    from ablate.sweeps import plan_sweep

    plan = plan_sweep("bn-placement", device="cpu")
    assert plan.protocol.epochs < 30 and plan.n_trials < 288
    assert any("CPU budget" in note for note in plan.notes)
    full = plan_sweep("bn-placement", device="cpu", full=True)
    assert full.protocol.epochs == 30 and full.notes == []
    assert len(get_study("bn-placement").grid()) == 32 * 3 * 3


def test_seed_study_reports_lecture_numbers(tmp_path: Path, cli) -> None:
    out = cli(
        "sweep",
        "--study",
        "seed",
        "--dataset",
        "synthetic",
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--quiet",
    )
    assert out.code == 0, out.err
    assert "Published numbers beside ours" in out.out and "86.50" in out.out
    assert "protocol shortened" in out.out


def test_sigint_mid_trial_then_rerun_loses_and_repeats_nothing(tmp_path: Path) -> None:
    text = GRID_STUDY.replace("epochs = 2", "epochs = 6").replace(
        "train_size = 256", "train_size = 1024"
    )
    path = write_study(tmp_path, text)
    command = [*ablate_command(), "sweep", "--study", str(path), "--no-report"]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    db = tmp_path / "ablate.db"
    deadline = time.monotonic() + 120
    complete_before: dict[int, str] = {}
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if not db.exists():
            continue
        try:
            with sqlite3.connect(db) as conn:
                states = dict(conn.execute("SELECT number, state FROM trials").fetchall())
                # Epochs reported by the running trial: signal it in the middle (1 to 3 of 6).
                reported = conn.execute(
                    "SELECT COUNT(*) FROM trial_intermediate_values v JOIN trials t "
                    "ON v.trial_id = t.trial_id WHERE t.state = 'RUNNING'"
                ).fetchone()[0]
        except sqlite3.OperationalError:
            continue
        if list(states.values()).count("COMPLETE") >= 2 and 1 <= reported <= 3:
            complete_before = {n: s for n, s in states.items() if s == "COMPLETE"}
            break
    assert complete_before, "the sweep never got going"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "re-queued" in err and "Traceback" not in err
    study = load(f"sqlite:///{db}", "tiny-grid")
    interrupted = [t for t in study.get_trials() if t.user_attrs.get("status") == "interrupted"]
    assert len(interrupted) == 1
    rerun = subprocess.run(
        command, capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    trials = load(f"sqlite:///{db}", "tiny-grid").get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 16
    pairs = Counter((json.dumps(t.params, sort_keys=True), t.user_attrs["seed"]) for t in complete)
    assert set(pairs.values()) == {1}, "a configuration and seed ran twice"
    for number in complete_before:
        assert trials[number].state.name == "COMPLETE"


def test_sweep_writes_the_html_report_and_says_where(tmp_path: Path, cli) -> None:
    out = cli("sweep", "--study", write_study(tmp_path), "--n-trials", "4", "--quiet")
    assert out.code == 0, out.err
    report = tmp_path / "ablate-reports" / "tiny-grid.html"
    assert report.exists() and f"report: {report}" in out.err
    assert "<table" in report.read_text()


def test_fused_sweep_tells_every_trial_its_own_result(tmp_path: Path, cli) -> None:
    out = cli("sweep", "--no-report", "--study", write_study(tmp_path), "--fuse", "4", "--quiet")
    assert out.code == 0, out.err
    trials = load("sqlite:///ablate.db", "tiny-grid").get_trials()
    assert len(trials) == 16 and all(t.state.name == "COMPLETE" for t in trials)
    assert all(sorted(t.intermediate_values) == [1, 2] for t in trials)
    assert all(t.user_attrs["environment"].get("fused_group") for t in trials)
    assert "trainer: --fuse 4" in out.out


def test_placements_that_cannot_fuse_fall_back_and_say_so(tmp_path: Path, cli) -> None:
    text = GRID_STUDY.replace(
        'name = "placement.conv2"\nchoices = [false, true]',
        'name = "placement.conv2"\nchoices = ["gn", "bn"]',
    )
    out = cli(
        "sweep",
        "--no-report",
        "--study",
        write_study(tmp_path, text),
        "--fuse",
        "4",
        "--n-trials",
        "8",
    )
    assert out.code == 0, out.err
    assert "trains one by one" in out.err and "group norm" in out.err
    trials = load("sqlite:///ablate.db", "tiny-grid").get_trials()
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)


def test_fuse_auto_on_a_cpu_never_picks_a_slower_path(tmp_path: Path, monkeypatch) -> None:
    from ablate.sweeps import plan_sweep, resolve_fuse

    monkeypatch.setenv("ABLATE_FUSE", "auto")
    plan = plan_sweep(write_study(tmp_path), device="cpu")
    size, why = resolve_fuse(plan)
    assert size >= 1 and "--fuse auto chose" in why
    assert resolve_fuse(plan) == (size, why.replace(why, resolve_fuse(plan)[1]))


def test_cover_tries_every_combination_first(tmp_path: Path) -> None:
    text = GRID_STUDY.replace(
        'sampler = "grid"', 'sampler = "tpe"\ncover = ["placement.input", "placement.conv2"]'
    )
    study = ablate.sweep(write_study(tmp_path, text), n_trials=8, progress=False)
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)
    combos = Counter((t.params["placement.input"], t.params["placement.conv2"]) for t in trials)
    assert len(combos) == 4 and set(combos.values()) == {2}
    seeds = {
        (t.params["placement.input"], t.params["placement.conv2"], t.user_attrs["seed"])
        for t in trials
    }
    assert len(seeds) == 8


def test_cover_must_name_categorical_parameters(tmp_path: Path, cli) -> None:
    text = GRID_STUDY.replace('sampler = "grid"', 'sampler = "tpe"\ncover = ["lr"]')
    out = cli("sweep", "--no-report", "--study", write_study(tmp_path, text))
    assert out.code == 2 and "unconditional categorical" in out.err
