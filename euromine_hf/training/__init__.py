"""Training EuroMineNet segmenters with the Hugging Face Trainer.

``arguments`` (HfArgumentParser dataclasses with the paper's defaults), ``losses`` (Eq. 6 and the
temporal-consistency term), ``trainer`` (``EuroMineTrainer``), ``compute_metrics`` (site-level
scores bound to the evaluated dataset), ``baseline`` (spectral-index threshold), ``run`` (the whole
run), ``reports`` (tables, card, maps, plots), ``demo`` (the no-argument preset), ``main`` / ``cli``
(entry points).  Submodules are imported on use so ``import euromine_hf`` stays light.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv=None) -> int:
    from euromine_hf.training.main import main as _main

    return _main(argv)
