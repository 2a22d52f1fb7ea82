"""The ``euromine`` command: one subcommand per workflow step.

Each subcommand lives beside the code it drives and exposes ``add_parser(subparsers)``; this module
only collects them, importing each lazily so ``euromine --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable

#: subcommand -> (module that defines ``add_parser``, one-line summary for ``--help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("euromine_hf.data.synthetic_cli", "write the synthetic EuroMineNet archive (raw GeoTIFF layout)"),
    "build": ("euromine_hf.data.build_cli", "build the Hugging Face datasets (mapping / timeseries / cd_pairs) from an archive"),
    "export": ("euromine_hf.data.export", "export Parquet shards and a dataset card for the Hub"),
    "push": ("euromine_hf.hub.push_cli", "upload a dataset export to the Hub as NAMESPACE/euromine"),
    "push-metrics": ("euromine_hf.hub.push_cli", "publish the evaluate modules as Hub Spaces NAMESPACE/<module>"),
    "stats": ("euromine_hf.data.statistics_cli", "footprint and change statistics (paper Tables 1-3) with plots"),
    "predict": ("euromine_hf.inference.cli", "predict yearly mine maps of whole scenes with a trained model (GeoTIFF)"),
    "evaluate": ("euromine_hf.metrics.evaluate_cli", "score a folder of predictions against a split of the data"),
    "train": ("euromine_hf.training.cli", "train a model (same arguments as train.py)"),
    "benchmark": ("euromine_hf.benchmark.cli", "the paper's protocol in one command: train every (task, model, seed), Tables 4-6 with mean ± std, figures"),
    "leaderboard": ("euromine_hf.hub.leaderboard_cli", "benchmark leaderboard: validate, score and publish a test-split submission; show the ranking"),
}

DESCRIPTION = """EuroMineNet tools: Sentinel-2 mine mapping and change detection on the Hugging Face stack.

Typical first run on the embedded synthetic data:
  euromine synth outputs/archive            # write a small synthetic archive
  euromine build outputs/archive outputs/ds # build mapping / timeseries / cd_pairs datasets
  euromine stats outputs/archive            # footprint / change tables and plots
Run `euromine COMMAND --help` for the options of one step.

Errors in your input (a bad file, field or option) exit with status 2 and one line naming the file,
the field and what was expected; `euromine --debug COMMAND ...` (or EUROMINE_DEBUG=1) shows the
traceback instead."""

#: Exception types that mean "the user's input is wrong" (exit 2, one message): bad values and files
#: (ArchiveError and JSON errors are ValueErrors) and file-system refusals.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
#: The same for third-party types, by qualified name so that checking them imports nothing: a damaged
#: weight file, a file that is not a raster, an image PIL cannot read.
_USER_ERROR_NAMES = {
    "safetensors_rust.SafetensorError",
    "safetensors._safetensors_rust.SafetensorError",
    "rasterio.errors.RasterioIOError",
    "PIL.UnidentifiedImageError",
}


def debug_enabled() -> bool:
    """``EUROMINE_DEBUG=1`` (set by ``euromine --debug``) shows tracebacks of user errors."""
    return os.environ.get("EUROMINE_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def user_error_message(error: BaseException) -> str | None:
    """The one-line message of an error caused by the user's input, or ``None`` for a bug.

    An error with a non-empty ``problems`` list (strings) gets its headline plus one line per
    problem, so a validator can report everything it found at once.

    ``datasets`` wraps an error raised while generating rows in ``DatasetGenerationError``; the
    user's error is its cause, so the cause is what is reported.

    A write the file system refused (read-only, full, quota, permissions: :func:`euromine_hf.io.write_fault`
    finds it anywhere in the cause chain) is the user's disk, not a bug: the file and the reason.
    """
    from euromine_hf.io import WriteError, write_fault

    fault = write_fault(error)
    if fault is not None:
        if isinstance(fault, WriteError):
            return " ".join(str(fault).split())
        reason = fault.strerror or os.strerror(fault.errno)
        return " ".join((f"{fault.filename}: {reason}" if fault.filename is not None else reason).split())
    if type(error).__name__ == "DatasetGenerationError" and error.__cause__ is not None:
        return user_error_message(error.__cause__)
    names = {f"{t.__module__}.{t.__qualname__}" for t in type(error).__mro__}
    if isinstance(error, USER_ERRORS) or names & _USER_ERROR_NAMES:
        message = str(error).strip() or type(error).__name__
        if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in message:
            message = f"{error.filename}: {message}"
        problems = getattr(error, "problems", None)
        if isinstance(problems, (list, tuple)) and problems:
            # an error that carries a list of problems (e.g. a rejected leaderboard submission):
            # its first line, then one indented line per problem
            head = " ".join((getattr(error, "headline", None) or message.splitlines()[0]).split())
            return head + "".join(f"\n  - {' '.join(str(p).split())}" for p in problems)
        return " ".join(message.split())  # one line, even for multi-line messages
    return None


def run_guarded(func: Callable[[], int | None], prog: str) -> int:
    """Run ``func``; a user error prints ``prog: error: MESSAGE`` to stderr and returns 2.

    Everything else (a bug) keeps its traceback. With :func:`debug_enabled` user errors keep theirs too.
    """
    try:
        return int(func() or 0)
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        message = user_error_message(error)
        if message is None or debug_enabled():
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse with the project's error shape: ``PROG: error: MESSAGE`` alone, exit 2 (argparse's
    own adds the usage block; ``--help`` still shows it)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="euromine", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors (also EUROMINE_DEBUG=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)
    for name, (module_name, summary) in COMMANDS.items():
        if only is not None and name != only:
            subparsers.add_parser(name, help=summary)
            continue
        module = importlib.import_module(module_name)
        module.add_parser(subparsers, name, summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else "")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    if not args.debug:
        return run_guarded(lambda: args.func(args), f"euromine {args.command}")
    previous = os.environ.get("EUROMINE_DEBUG")
    os.environ["EUROMINE_DEBUG"] = "1"  # also reaches train.py's own guard under `euromine train`
    try:
        return run_guarded(lambda: args.func(args), f"euromine {args.command}")
    finally:
        if previous is None:
            os.environ.pop("EUROMINE_DEBUG", None)
        else:
            os.environ["EUROMINE_DEBUG"] = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
