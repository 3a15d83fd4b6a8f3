"""The ``ablate`` command line: a thin layer over the Python API.

Every user error ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ablate import __version__
from ablate.errors import AblateError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> NoReturn:
        hint = f" (see '{self.prog} --help')"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


COMPONENT_KINDS = ("models", "placements", "schedulers", "optimizers", "datasets", "studies")


# ------------------------------------------------------------------ commands


def cmd_list(args: argparse.Namespace) -> int:
    from ablate import listing
    from ablate.display import make_console

    make_console().print(listing.component_table(args.kind, args.pattern))
    return 0


def cmd_plugins_new(args: argparse.Namespace) -> int:
    from ablate.scaffold import write_skeleton

    path = write_skeleton(args.name, args.dest or Path.cwd())
    sys.stdout.write(
        f"created {path}\nnext: pip install -e {path} && pytest {path} && ablate list models\n"
    )
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from ablate import listing, plugins
    from ablate.display import make_console

    if args.trace:
        plugins.enable_trace()
    make_console().print(listing.plugins_table())
    return 0


def add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run settings (default: the seed lecture's protocol)")
    group.add_argument("--model", help="registered model (default: lenet5)")
    group.add_argument(
        "--placement",
        help="a registered placement or a spelled one, e.g. bn:conv2+fc1 (default: none)",
    )
    group.add_argument("--scheduler", help="registered LR scheduler (default: step)")
    group.add_argument("--optimizer", help="registered optimizer (default: adam)")
    group.add_argument("--lr", type=positive_float, help="learning rate (default: 1e-3)")
    group.add_argument("--epochs", type=positive_int, help="epochs (default: 30)")
    group.add_argument("--batch-size", type=positive_int, help="batch size (default: 64)")
    group.add_argument(
        "--seed", type=non_negative_int, help="seed for init and shuffling (default: 0)"
    )
    group.add_argument("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    group.add_argument("--dataset", help="registered dataset (default: fashion-mnist)")
    group.add_argument("--data-dir", type=Path, help="where the dataset's files are")
    group.add_argument(
        "--download",
        action="store_true",
        default=None,
        help="download the dataset with torchvision if it is not found",
    )
    group.add_argument("--train-size", type=positive_int, help="train on the first N images only")
    group.add_argument("--test-size", type=positive_int, help="evaluate on the first N test images")


RUN_FIELDS = (
    "model",
    "placement",
    "scheduler",
    "optimizer",
    "lr",
    "epochs",
    "batch_size",
    "seed",
    "device",
    "dataset",
    "data_dir",
    "download",
    "train_size",
    "test_size",
)


def cmd_run(args: argparse.Namespace) -> int:
    from ablate.config import load_config
    from ablate.display import RunProgress, make_console, run_table
    from ablate.engine import run

    overrides = {name: getattr(args, name) for name in RUN_FIELDS}
    config = load_config(args.config, **overrides)
    err = make_console(stderr=True)
    observers = [] if args.quiet else [RunProgress(err)]
    result = run(config, observers=observers)
    if args.json:
        sys.stdout.write(result.model_dump_json() + "\n")
    else:
        make_console().print(run_table(result))
    return 0


# ------------------------------------------------------------------- parser


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="ablate",
        description="Ablation studies for PyTorch models: which part of my model matters?",
    )
    parser.add_argument("--version", action="version", version=f"ablate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True

    p = sub.add_parser(
        "list",
        help="list registered components of one kind",
        description="List registered components: models (with their "
        "normalisation slots), placements, schedulers, optimizers, "
        "datasets or studies.",
    )
    p.add_argument("kind", choices=COMPONENT_KINDS, help="which kind of component")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'lenet*'")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "plugins",
        help="list loaded plugins and what they register",
        description="Every loaded plugin: name, version, whether it is built in "
        "or from an entry point, and what it registers.",
    )
    p.add_argument("--trace", action="store_true", help="print each hook call to stderr")
    p.set_defaults(func=cmd_plugins)
    plugin_commands = p.add_subparsers(
        dest="plugins_command", metavar="{new}", parser_class=ArgumentParser
    )
    new = plugin_commands.add_parser(
        "new",
        help="write a ready-to-install plugin skeleton",
        description="Write a ready-to-install plugin package (pyproject.toml with an 'ablate' "
        "entry point, a module registering an example model, and a contract test "
        "that passes as generated).",
    )
    new.add_argument("name", help="plugin name: lowercase letters, digits and dashes")
    new.add_argument("--dest", type=Path, help="where to create it (default: here)")
    new.set_defaults(func=cmd_plugins_new)

    p = sub.add_parser(
        "run",
        help="train one configuration",
        description="Train one configuration with a live progress display, "
        "then print a summary table (or JSON with --json).",
    )
    add_run_options(p)
    p.add_argument("--config", type=Path, help="TOML file of run settings; flags override it")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_run)

    from ablate import sweep_cli

    sweep_cli.add_commands(sub)
    return parser


def _one_line_warning(
    message: Any,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    sys.stderr.write(f"ablate: warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    from ablate.plugins import PluginLoadWarning

    warnings.simplefilter("default", PluginLoadWarning)
    original: Callable[..., None] = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, PluginLoadWarning):
            _one_line_warning(message, category, filename, lineno)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AblateError as exc:
        sys.stderr.write(f"ablate: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("ablate: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
