"""Training EuroMineNet models with the Hugging Face Trainer.

One run function (``run.run_training``) drives any task of ``tasks/`` (segmentation, change
detection); ``main`` / ``cli`` (entry points) and ``demo`` (the no-argument preset) call it and
nothing below it. The module → concern table is in ARCHITECTURE.md ("Training").  Submodules are
imported on use so ``import euromine_hf`` stays light.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv=None) -> int:
    from euromine_hf.training.main import main as _main

    return _main(argv)
