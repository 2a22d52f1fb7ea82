"""euromine-hf: the EuroMineNet benchmark on the Hugging Face stack.

Importing the package registers every model with ``AutoConfig`` / ``AutoModel`` /
``AutoModelForSemanticSegmentation``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from euromine_hf import models  # noqa: E402,F401  (registers the Auto classes)
from euromine_hf.bands import BANDS, MEAN, STD, YEARS  # noqa: E402

__all__ = ["BANDS", "MEAN", "STD", "YEARS", "__version__", "models"]
