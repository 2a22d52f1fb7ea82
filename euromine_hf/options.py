"""Value types for the ``euromine`` options, so a nonsensical number fails at parse time.

``--intervals 0``, ``--num-proc 0`` or ``--maps -1`` used to pass argparse and fail later, deep
inside datasets or numpy, or not at all (an export of 0-row shards, exit 0). Each integer option
names its range here once; argparse turns the refusal into ``euromine CMD: error: argument
--num-proc: expected an integer >= 1, got '0'`` and exit 2, before anything is read or written.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

__all__ = ["int_range", "SEED", "POSITIVE", "NON_NEGATIVE", "INTERVAL", "device_type", "checked"]


def int_range(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers in ``minimum..maximum`` (either end open when None)."""
    if minimum is not None and maximum is not None:
        expected = f"an integer in {minimum}..{maximum}"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    else:
        expected = "an integer"

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected  # what argparse shows if it ever names the type
    return parse


#: a random seed: numpy's generators take non-negative integers only
SEED = int_range(0, 2**32 - 1)
#: counts of things that must exist: processes, batch size, sites
POSITIVE = int_range(1)
#: "the first N" counts where 0 means none
NON_NEGATIVE = int_range(0)
#: a year gap t2 - t1 of the benchmark's ten years
INTERVAL = int_range(1, 9)


def checked(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a checker raising ``ValueError`` with a full message ("--x: expected
    ..."): argparse shows ``ArgumentTypeError`` text as is (a bare ``ValueError`` would become
    "invalid value"), after its own "argument --x:", so the checker's own prefix is dropped."""
    def convert(text: str) -> Any:
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error).split(": ", 1)[-1]) from None

    convert.__name__ = getattr(check, "__name__", "value")
    return convert


def _check_device(text: str) -> str:
    from euromine_hf.devices import check_device

    return check_device(text)


#: ``--device``: a torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``...). torch
#: accepts any well-formed name and fails at the first tensor moved there, after the model and data
#: are loaded; checked here, a typo or an absent GPU is one line at parse time.
device_type = checked(_check_device)
