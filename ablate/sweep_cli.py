"""The ``sweep``, ``studies`` and ``report`` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ablate.errors import AblateError


def _cli():  # late import: cli imports this module while building its parser
    from ablate import cli

    return cli


def add_sweep_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--study",
        required=True,
        help="a registered study (see 'ablate studies') or a study TOML file",
    )
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///ablate.db here)")
    p.add_argument("--name", help="name of the study in the storage (default: the study's)")


def cmd_sweep(args: argparse.Namespace) -> int:
    from ablate.display import make_console
    from ablate.summary import summarize
    from ablate.sweeps import sweep

    try:
        study = sweep(
            args.study,
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
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        sys.stderr.write(
            "ablate: interrupted; the running trial was re-queued. "
            "Run the same command again to resume.\n"
        )
        return _cli().EXIT_INTERRUPTED
    summarize(study, console=make_console(), show=True)
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
        budget = f"{study.budget.n_trials or 'grid'} trials"
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
    import optuna

    from ablate.display import make_console
    from ablate.storage import DEFAULT_STORAGE, mask, open_storage
    from ablate.study import get_study
    from ablate.summary import summarize

    name = args.name
    if name is None:
        text = str(args.study)
        name = get_study(text).name if text.endswith(".toml") else text
    url = args.storage or DEFAULT_STORAGE
    storage = open_storage(url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = optuna.get_all_study_names(storage)
        raise AblateError(
            f"no study {name!r} in {mask(url)} (stored: {', '.join(known) or 'none'})"
        ) from None
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
    add_sweep_options(p)
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
    p.add_argument("--quiet", "-q", action="store_true", help="no live progress")
    p.set_defaults(func=cmd_sweep)

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
    add_sweep_options(p)
    p.add_argument(
        "--format",
        choices=("rich", "json", "csv", "markdown"),
        default="rich",
        help="output format (default: rich tables)",
    )
    p.set_defaults(func=cmd_report)
