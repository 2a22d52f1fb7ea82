"""Facts about the published EuroMineNet imagery, loaded from the packaged JSON resources.

Band names and normalisation travel with the data (TorchGeo style), not with the models: every
collator, dataset card and band-adaptation step reads them from here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

PATCH_SIZE = 160


@lru_cache(maxsize=None)
def load_resource(name: str) -> dict[str, Any]:
    """Read one of the JSON files shipped in ``euromine_hf/resources``."""
    text = resources.files("euromine_hf").joinpath("resources", name).read_text(encoding="utf-8")
    return json.loads(text)


_BANDS_INFO = load_resource("euromine_bands.json")

BANDS: tuple[str, ...] = tuple(_BANDS_INFO["bands"])
NUM_BANDS = len(BANDS)
#: Per-band constants the publishers' loaders normalise with (the benchmark's convention).
MEAN = np.asarray(_BANDS_INFO["mean"], dtype=np.float32)
STD = np.asarray(_BANDS_INFO["std"], dtype=np.float32)
YEARS: tuple[int, ...] = tuple(load_resource("euromine_official_split.json")["years"])
GSD_M = float(_BANDS_INFO["ground_sample_distance_m"])
LABEL_MINE_VALUE = int(_BANDS_INFO["label_values"]["mine"])
#: Sentinel-2 bands that an RGB checkpoint's red/green/blue filters map onto.
RGB_BANDS: tuple[str, str, str] = ("B04", "B03", "B02")


def country_of(site: str) -> str:
    """Country of a site folder name such as ``Germany_13`` (``Portuga_2`` is the archive's spelling)."""
    country = site.rsplit("_", 1)[0]
    return "Portugal" if country == "Portuga" else country
