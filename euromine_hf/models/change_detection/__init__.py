"""Change detectors: shared fusion parts (:mod:`.fusion`) and one file per paper detector.

Importing this package imports every detector module listed in ``DETECTORS``; each registers its
zoo entries with ``task="change_detection"``.
"""

from __future__ import annotations

import importlib

#: Detector modules, one per paper model.
DETECTORS: tuple[str, ...] = (
    "fc_ef",
    "fc_siam_conc",
    "fc_siam_diff",
    "snunet",
    "tinycd",
    "bit",
    "changeformer",
    "cgnet",
    "hcgmnet",
    "a2net",
    "dminet",
    "tfi_gr",
    "icifnet",
    "afcf3d",
    "dtcdscn",
    "fcn_pp",
    "resunet",
    "hanet",
    "mspsnet",
    "rdpnet",
)

for _name in DETECTORS:
    importlib.import_module(f"{__name__}.{_name}")
