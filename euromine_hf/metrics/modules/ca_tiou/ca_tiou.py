"""EuroMineNet CA-TIoU: LCA-TIoU and GCA-TIoU (change-aware temporal IoU) of mine-map time series.

A thin `evaluate` face of the euromine_hf numeric core (`euromine_hf.metrics`): masks are reduced
to count rows in `add_batch` (never raw pixels through Arrow) and scored by the core. See README.md
for inputs, outputs, protocols and empty-denominator rules.
"""

import evaluate  # noqa: F401  (offline: euromine_hf.metrics.load("ca_tiou"); Hub: evaluate.load("NAMESPACE/ca_tiou"))
from euromine_hf.metrics import hf_modules as _core


class CaTiou(_core.CaTIoU):
    """EuroMineNet CA-TIoU: LCA-TIoU and GCA-TIoU (change-aware temporal IoU) of mine-map time series."""
