"""The ``sweep``, ``worker``, ``status``, ``studies`` and ``report`` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ablate.errors import AblateError


def _cli() -> Any:  # late import: cli imports this module while building its parser
    from ablate import cli

    return cli


def add_study_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--study",
        required=True,
        help="a registered study (see 'ablate studies') or a study TOML file",
    )
    p.add_argument(
        "--storage",
        help="Optuna storage URL (default: $ABLATE_STORAGE, else sqlite:///ablate.db here)",
    )
    p.add_argument("--name", help="name of the study in the storage (default: the study's)")


def add_run_options(p: argparse.ArgumentParser) -> None:
    cli = _cli()
    p.add_argument(
        "--sampler",
        choices=("tpe", "random", "grid"),
        help="tpe (default), random, or grid (exhaustive over the grid)",
    )
    p.add_argument(
        "--pruner",
        choices=("median", "hyperband", "none"),
        help="stop weak trials early (default: the study's)",
    )
    p.add_argument(
        "--n-trials",
        type=cli.positive_int,
        help="total trials in the study (configurations x seeds)",
    )
    p.add_argument("--timeout", type=cli.positive_float, help="stop starting trials after N s")
    p.add_argument("--seeds", type=cli.positive_int, help="seeds per configuration")
    p.add_argument("--epochs", type=cli.positive_int, help="shorten the protocol")
    p.add_argument("--train-size", type=cli.positive_int, help="train on the first N images")
    p.add_argument("--test-size", type=cli.positive_int, help="evaluate on the first N images")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--dataset", help="run the study on another registered dataset")
    p.add_argument("--data-dir", type=Path, help="where the dataset's files are")
    p.add_argument(
        "--download",
        action="store_true",
        default=None,
        help="download the dataset if it is not found",
    )
    p.add_argument("--full", action="store_true", help="run the full protocol even on a CPU")
    p.add_argument(
        "--heartbeat",
        type=cli.positive_int,
        help="seconds between heartbeats; a silent worker's trial is re-queued "
        "after twice this (default: 30; database storages only)",
    )
    p.add_argument(
        "--fuse",
        help="train this many trials as one fused model per step, or 'auto' (default: "
        "measure plain vs fused on this device once, and never pick a slower path)",
    )
    p.add_argument(
        "--artifacts",
        type=Path,
        help="directory for per-epoch trial checkpoints, shared by all workers "
        "(default: ./ablate-artifacts)",
    )


def _sweep_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(
        storage=args.storage,
        name=args.name,
        sampler=args.sampler,
        pruner=args.pruner,
        n_trials=args.n_trials,
        timeout=args.timeout,
        seeds=args.seeds,
        epochs=args.epochs,
        train_size=args.train_size,
        test_size=args.test_size,
        device=args.device,
        dataset=args.dataset,
        data_dir=args.data_dir,
        download=args.download,
        full=args.full,
        heartbeat=args.heartbeat,
        artifacts=args.artifacts,
        fuse=args.fuse,
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from ablate.display import make_console
    from ablate.summary import summarize
    from ablate.sweeps import sweep

    devices = [d.strip() for d in args.devices.split(",") if d.strip()] if args.devices else None
    try:
        study = sweep(
            args.study,
            progress=not args.quiet,
            workers=args.workers,
            devices=devices,
            **_sweep_kwargs(args),
        )
    except KeyboardInterrupt:
        sys.stderr.write(
            "ablate: interrupted; the running trial was re-queued. "
            "Run the same command again to resume.\n"
        )
        return _cli().EXIT_INTERRUPTED
    summarize(study, console=make_console(), show=True)
    if not args.no_report:
        write_report(study, args.report or default_report_path(study.study_name))
    return 0


def default_report_path(study_name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name) or "study"
    return Path("ablate-reports") / f"{safe}.html"


def write_report(study: Any, path: Path) -> None:
    """Write the HTML report and say where it is (on stderr: stdout carries results)."""
    from ablate.html_report import write_html

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        written = write_html(study, path)
    except OSError as exc:
        raise AblateError(f"cannot write report {path}: {exc.strerror or exc}") from None
    sys.stderr.write(f"report: {written.resolve()}\n")


def cmd_worker(args: argparse.Namespace) -> int:
    """Join a sweep as one more worker: run queued and new trials until the budget is spent."""
    import optuna

    from ablate.sweeps import SweepRunner, open_study, plan_sweep, resolve_fuse

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    plan = plan_sweep(args.study, **_sweep_kwargs(args))
    fuse, why = resolve_fuse(plan)
    study, _ = open_study(plan)
    # Workers never queue grid points themselves (the creator of the study did), so
    # concurrent workers cannot queue the same configuration and seed twice.
    runner = SweepRunner(plan, study, display=None, may_queue=False)
    runner.fuse = fuse
    sys.stderr.write(f"worker: study {plan.name} on {plan.device}; trainer: {why}\n")
    try:
        runner.run()
    except KeyboardInterrupt:
        sys.stderr.write("ablate: interrupted; the running trial was re-queued.\n")
        return _cli().EXIT_INTERRUPTED
    sys.stderr.write(f"worker: done after {runner.ran} trials\n")
    return 0


def load_stored(args: argparse.Namespace) -> Any:
    """The stored optuna.Study named by ``--study``/``--name`` in ``--storage``."""
    import optuna

    from ablate.storage import default_storage, mask, open_storage
    from ablate.study import get_study

    name = args.name
    if name is None:
        text = str(args.study)
        name = get_study(text).name if text.endswith(".toml") else text
    url = args.storage or default_storage()
    storage = open_storage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = optuna.get_all_study_names(storage)
        raise AblateError(
            f"no study {name!r} in {mask(url)} (stored: {', '.join(known) or 'none'})"
        ) from None


def cmd_status(args: argparse.Namespace) -> int:
    from ablate.display import make_console
    from ablate.status import status_table

    make_console().print(status_table(load_stored(args)))
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    from rich import box
    from rich.table import Table

    from ablate import registry
    from ablate.display import make_console
    from ablate.study import get_study, study_to_toml

    console = make_console()
    names = registry.studies.names()
    if args.toml:
        study = get_study(args.toml)
        sys.stdout.write(study_to_toml(study))
        return 0
    for name in names:
        study = get_study(name)
        table = Table(
            title=f"{name}: {study.description}", box=box.SIMPLE_HEAD, title_justify="left"
        )
        table.add_column("parameter", style="bold")
        table.add_column("values")
        for param in study.space:
            table.add_row(param.name, param.describe())
        p = study.protocol
        table.add_row(
            "protocol",
            f"{p.model} on {p.dataset}, {p.optimizer} lr {p.lr:g}, "
            f"{p.scheduler}, batch {p.batch_size}, {p.epochs} epochs",
        )
        table.add_row(
            "objective",
            f"{study.direction} final {study.metric}; {study.seeds} seeds per configuration",
        )
        table.add_row("sampler", f"{study.sampler}, pruner {study.pruner}")
        if study.cover:
            table.add_row("covers first", "every combination of " + ", ".join(study.cover))
        budget = (
            f"{study.budget.n_trials} trials"
            if study.budget.n_trials
            else f"the whole grid x {study.seeds} seeds"
        )
        if study.cpu_budget:
            cb = study.cpu_budget
            budget += (
                f"; on a CPU: {cb.n_trials} trials, {cb.epochs} epochs, "
                f"{cb.train_size or 'all'} train images"
            )
        table.add_row("budget", budget)
        console.print(table)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ablate.display import make_console
    from ablate.summary import summarize

    study = load_stored(args)
    if args.html:
        write_report(study, args.html)
    if args.plots:
        from ablate.figures import write_figures

        try:
            paths = write_figures(study, args.plots)
        except OSError as exc:
            raise AblateError(f"cannot write figures to {args.plots}: {exc}") from None
        sys.stderr.write(f"figures: {len(paths)} files in {Path(args.plots).resolve()}\n")
    if (args.html or args.plots) and args.format is None:
        return 0
    args.format = args.format or "rich"
    summary = summarize(study)
    if args.format == "json":
        sys.stdout.write(summary.to_json() + "\n")
    elif args.format == "csv":
        sys.stdout.write(summary.to_csv())
    elif args.format == "markdown":
        sys.stdout.write(summary.to_markdown())
    else:
        summary.render(make_console())
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    cli = _cli()
    p = sub.add_parser(
        "sweep",
        help="run (or resume) an Optuna sweep of a study",
        description="Run a study's trials with Optuna, storing every trial; the same command "
        "again resumes, and a larger --n-trials extends the study. On a CPU the "
        "built-in studies use a shorter budget unless --full is given.",
    )
    add_study_options(p)
    add_run_options(p)
    p.add_argument(
        "--workers",
        type=cli.positive_int,
        help="local worker processes sharing the storage (default: what this "
        "machine runs best: one per CPU core, or one per GPU)",
    )
    p.add_argument("--devices", help="comma-separated devices for the workers, e.g. cuda:0,cuda:1")
    p.add_argument("--quiet", "-q", action="store_true", help="no live progress")
    p.add_argument(
        "--report",
        type=Path,
        help="where to write the HTML report (default: ablate-reports/STUDY.html)",
    )
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "worker",
        help="join a sweep from any machine",
        description="Join a sweep as one more worker on a shared storage (e.g. PostgreSQL): "
        "it runs queued and new trials until the study's budget is spent. Start "
        "as many as you like, on any machine that reaches the storage.",
    )
    add_study_options(p)
    add_run_options(p)
    p.add_argument("--threads", type=cli.positive_int, help="torch threads for this worker")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "status",
        help="trials by state, workers alive, ETA",
        description="Read only the storage and show the sweep's trials by "
        "state, the workers alive, and an ETA; works from any "
        "machine that reaches the storage.",
    )
    add_study_options(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "studies",
        help="list registered studies and their search spaces",
        description="The registered studies, with their search spaces, protocols and budgets.",
    )
    p.add_argument("--toml", metavar="STUDY", help="print one study as TOML, to edit and reuse")
    p.set_defaults(func=cmd_studies)

    p = sub.add_parser(
        "report",
        help="re-render a study's summary from storage",
        description="Re-render the summary tables of a stored study, without training anything.",
    )
    add_study_options(p)
    p.add_argument(
        "--format",
        choices=("rich", "json", "csv", "markdown"),
        help="output format (default: rich tables)",
    )
    p.add_argument(
        "--html", type=Path, help="write a self-contained HTML report (tables, figures, config)"
    )
    p.add_argument("--plots", type=Path, help="write the figures as PNG and SVG to this folder")
    p.set_defaults(func=cmd_report)
