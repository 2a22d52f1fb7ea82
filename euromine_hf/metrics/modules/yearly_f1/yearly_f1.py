"""EuroMineNet mapping scores: F1 per year, overall F1 (OF1), precision, recall, IoU.

A thin `evaluate` face of the euromine_hf numeric core (`euromine_hf.metrics`): masks are reduced
to count rows in `add_batch` (never raw pixels through Arrow) and scored by the core. See README.md
for inputs, outputs, protocols and empty-denominator rules.
"""

import evaluate  # noqa: F401  (offline: euromine_hf.metrics.load("yearly_f1"); Hub: evaluate.load("NAMESPACE/yearly_f1"))
from euromine_hf.metrics import hf_modules as _core


class YearlyF1(_core.YearlyF1):
    """EuroMineNet mapping scores: F1 per year, overall F1 (OF1), precision, recall, IoU."""
