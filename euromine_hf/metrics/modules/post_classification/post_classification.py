"""EuroMineNet post-classification change: |P_t2 - P_t1| from mapping predictions, F1 per interval and OF1.

A thin `evaluate` face of the euromine_hf numeric core (`euromine_hf.metrics`): masks are reduced
to count rows in `add_batch` (never raw pixels through Arrow) and scored by the core. See README.md
for inputs, outputs, protocols and empty-denominator rules.
"""

import evaluate  # noqa: F401  (offline: euromine_hf.metrics.load("post_classification"); Hub: evaluate.load("NAMESPACE/post_classification"))
from euromine_hf.metrics import hf_modules as _core


class PostClassification(_core.PostClassificationF1):
    """EuroMineNet post-classification change: |P_t2 - P_t1| from mapping predictions, F1 per interval and OF1."""
