"""EuroMineNet change detection: F1 per interval t2 - t1 (1..9), overall F1 (OF1), precision, recall, IoU.

A thin `evaluate` face of the euromine_hf numeric core (`euromine_hf.metrics`): masks are reduced
to count rows in `add_batch` (never raw pixels through Arrow) and scored by the core. See README.md
for inputs, outputs, protocols and empty-denominator rules.
"""

import evaluate  # noqa: F401  (offline: euromine_hf.metrics.load("interval_f1"); Hub: evaluate.load("NAMESPACE/interval_f1"))
from euromine_hf.metrics import hf_modules as _core


class IntervalF1(_core.IntervalF1):
    """EuroMineNet change detection: F1 per interval t2 - t1 (1..9), overall F1 (OF1), precision, recall, IoU."""
