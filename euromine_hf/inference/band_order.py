"""Which band is which: the band order of an input GeoTIFF, and the channels a model takes from it.

Reading a file in an assumed order can silently swap bands and still give plausible-looking maps,
so the order comes from somewhere stated (band descriptions, ``--band-order``, or the published
order for files that carry no descriptions) and is recorded in every map's tags.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from euromine_hf.bands import BANDS

__all__ = [
    "S2_BAND_NAMES", "ORDER_FROM_DESCRIPTIONS", "ORDER_PUBLISHED", "ORDER_STATED",
    "parse_band_order", "file_band_order", "raster_band_names", "select_bands", "model_band_names",
]

_S2_BAND = re.compile(r"^B0?(\d{1,2})(A?)$")

#: Sentinel-2 MSI band names a description may give (L1C has all thirteen; L2A drops B10).
S2_BAND_NAMES = frozenset(f"B{n:02d}" for n in range(1, 13)) | {"B8A"}
#: ``band_order_source`` tag values: where the order of a map's input bands came from.
ORDER_FROM_DESCRIPTIONS, ORDER_PUBLISHED, ORDER_STATED = "band descriptions", "published order", "--band-order"


def _canonical_band(name: str | None) -> str | None:
    """``"B2"``/``"b02"`` → ``"B02"``, ``"B8a"`` → ``"B8A"``; ``None`` for anything else."""
    match = _S2_BAND.match((name or "").strip().upper())
    if not match:
        return None
    number, suffix = int(match.group(1)), match.group(2)
    return f"B{number}A" if suffix else f"B{number:02d}"


_GENERIC = re.compile(r"^band[\s_]*(\d+)$", re.IGNORECASE)


def _specific(text: str, index: int) -> str:
    """A description, or ``""`` for a generic ``Band {index}`` on its own band (some tools write
    them for undescribed bands: they say nothing about which band is which)."""
    match = _GENERIC.match(text)
    return "" if match and int(match.group(1)) == index else text


def parse_band_order(text: str) -> list[str]:
    """``--band-order``: the file's bands as a comma list of the ten published band names, each
    once (``B2``/``b02`` spellings accepted), e.g. ``B12,B11,B8A,B08,B07,B06,B05,B04,B03,B02``."""
    items = [t.strip() for t in str(text).split(",")]
    names = [_canonical_band(t) for t in items]
    expected = f"the {len(BANDS)} band names {','.join(BANDS)} in the file's order, each once"
    bad = [t for t, n in zip(items, names) if n not in BANDS]
    if bad:
        raise ValueError(f"--band-order: expected {expected}; {bad[0]!r} is not one of them")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"--band-order: expected {expected}; {', '.join(repeated)} given twice")
    if len(names) != len(BANDS):
        missing = [b for b in BANDS if b not in names]
        raise ValueError(f"--band-order: expected {expected}; missing {', '.join(missing)}")
    return names  # type: ignore[return-value]


def file_band_order(path: str | Path, descriptions: Sequence[str | None], count: int,
                    stated: Sequence[str] | None = None) -> tuple[list[str], str]:
    """The band names of a GeoTIFF, in file order, and where that order came from.

    ``stated`` (``--band-order``) wins. Otherwise descriptions that name Sentinel-2 bands decide:
    every band must name one, each once; a missing, unknown or repeated name is an error naming the
    band index, since reading such a file in any assumed order can silently swap bands. A file with
    no descriptions at all, or only GDAL's generic ones (``Band 1`` on band 1, ...), is read in the
    published 10-band order. The archive reader (:mod:`euromine_hf.data.archive`) uses this same
    rule, so training data and predictions agree on every file.
    """
    from euromine_hf.data.archive import ArchiveError

    if stated is not None:
        if count != len(stated):
            raise ArchiveError(path, "band count", f"{len(stated)} bands as --band-order states ({','.join(stated)})", count)
        return list(stated), ORDER_STATED
    texts = [_specific((d or "").strip(), index) for index, d in enumerate(descriptions, start=1)]
    if not any(texts):
        if count == len(BANDS):
            return list(BANDS), ORDER_PUBLISHED
        raise ArchiveError(
            path, "band count",
            f"{len(BANDS)} bands in the published order ({', '.join(BANDS)}), or band descriptions naming each band",
            f"{count} band{'s' if count != 1 else ''} without Sentinel-2 band descriptions",
        )
    expected = "a Sentinel-2 band name (B02 ... B12, B8A) for every band, each once, or --band-order stating the file's order"
    names: list[str] = []
    for index, text in enumerate(texts, start=1):
        name = _canonical_band(text)
        if not text:
            raise ArchiveError(path, f"band {index} description", expected, "none (other bands are described)")
        if name not in S2_BAND_NAMES:
            raise ArchiveError(path, f"band {index} description", expected, repr(text))
        if name in names:
            raise ArchiveError(path, f"band {index} description", expected, f"{name} again (band {names.index(name) + 1})")
        names.append(name)  # type: ignore[arg-type]
    return names, ORDER_FROM_DESCRIPTIONS


def raster_band_names(path: str | Path, descriptions: Sequence[str | None], count: int,
                      stated: Sequence[str] | None = None) -> list[str]:
    """Band names of a GeoTIFF in file order (see :func:`file_band_order`)."""
    return file_band_order(path, descriptions, count, stated)[0]


def select_bands(image: np.ndarray, band_names: Sequence[str], source_bands: Sequence[str] = BANDS) -> np.ndarray:
    """The channels of a ``source_bands`` image that a model with ``band_names`` expects, in its order."""
    missing = [b for b in band_names if b not in source_bands]
    if missing:
        raise ValueError(
            f"model expects bands {list(band_names)}; {missing} are not among the image's bands {list(source_bands)}"
        )
    if image.shape[0] != len(source_bands):
        raise ValueError(f"image has {image.shape[0]} bands; expected {len(source_bands)} ({', '.join(source_bands)})")
    if list(band_names) == list(source_bands):
        return image
    return image[[list(source_bands).index(b) for b in band_names]]


def model_band_names(model: Any) -> list[str]:
    """The bands a model was trained on (``config.band_names``; the published ten by default), each
    with a published normalisation."""
    bands = list(getattr(model.config, "band_names", None) or BANDS)
    unknown = [b for b in bands if b not in BANDS]
    if unknown:
        hint = ""
        if all(re.fullmatch(r"band\d+", b) for b in unknown):  # default_band_names' placeholders
            hint = (f" (the model was built with num_channels={len(bands)} and no band_names; build it with "
                    f"band_names=[...] naming each channel's Sentinel-2 band, e.g. {list(BANDS[:len(bands)])})")
        raise ValueError(f"config.json band_names {bands}: no published normalisation for {unknown}{hint}")
    return bands
