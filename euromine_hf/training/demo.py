"""The embedded demo: what ``python train.py`` with no arguments runs.

It trains a tiny zoo model on the synthetic default archive for a few minutes of a 2-core CPU,
tests it, writes every report, and sets it beside the spectral-index threshold baseline.  The
preset departs from the paper's recipe only where a few CPU minutes demand it (a tiny Segformer -
the zoo model that learned most per CPU second in our trials - batch 8 for 30 epochs (about two minutes), lr 1e-2 so the small-normal
initialised classifier grows within ~100 steps, radiometric gain jitter for the
site-to-site spectral shifts of the synthetic data); every value can be overridden on the command line.
"""

from __future__ import annotations

from typing import Sequence

DEMO_OUTPUT_DIR = "outputs/demo"

#: Prepended to the user's arguments under ``--demo`` (later arguments win).
DEMO_ARGV: tuple[str, ...] = (
    "--model", "segformer",
    "--size", "tiny",
    "--per_device_train_batch_size", "8",
    "--per_device_eval_batch_size", "16",
    "--learning_rate", "1e-2",
    "--radiometric_jitter", "0.3",
    "--lr_scheduler_kwargs", '{"min_lr": 1e-5}',
    "--num_train_epochs", "30",
    "--logging_steps", "10",
    "--save_total_limit", "1",
    "--seed", "0",
    "--output_dir", DEMO_OUTPUT_DIR,
    "--num_qualitative", "4",
)

#: Arguments that leave ``python train.py ...`` in demo mode.
_DEMO_COMPATIBLE = {"--output_dir", "--demo"}


def is_demo_invocation(argv: Sequence[str]) -> bool:
    """No arguments, ``--demo``, or only ``--output_dir X``: run the demo preset."""
    argv = list(argv)
    if "--demo" in argv or any(a.startswith("--demo=") and a.split("=", 1)[1].lower() in ("1", "true") for a in argv):
        return True
    flags = [a.split("=", 1)[0] for a in argv if a.startswith("--")]
    return all(f in _DEMO_COMPATIBLE for f in flags) and len(argv) <= 2


def demo_argv(argv: Sequence[str]) -> list[str]:
    """The demo preset followed by the user's own arguments."""
    return [*DEMO_ARGV, *[a for a in argv if a != "--demo"], "--demo", "true"]


def beats_baseline(test: dict[str, float], baseline: dict[str, float] | None) -> bool:
    """The demo's promise: the trained model beats the threshold baseline on OF1 and GCA-TIoU."""
    if baseline is None:
        return True
    return all(test.get(k, float("-inf")) > baseline.get(k, float("inf")) for k in ("OF1", "GCA-TIoU"))
