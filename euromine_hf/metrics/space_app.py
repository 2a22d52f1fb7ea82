"""The Gradio app of a metric's Hub Space: upload mask files, get the module's scores.

Why not evaluate's ``launch_gradio_widget``: it builds its form from the module's ``features``,
which are the count rows masks are reduced to before Arrow (``site``, ``keys``, ``counts``), so
its form can take no mask. Here the scoring is plain Python (:func:`score_files`, tested without
gradio or a browser) over the module's simplest call; gradio is imported only by :func:`build_app`,
on the Space (or after ``pip install gradio``), never by the package.

Files: ``.tif``/``.tiff`` (1 band), ``.png`` (one channel) or ``.npy`` (2-D), values {0, 1} or
{0, 255}. They are put in order by name, and a year in a name (``Year2016.tif``,
``Change2015_2016.tif``) is used as the key, so the Space scores files as ``euromine predict``
writes them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["read_mask", "score_files", "build_app", "launch"]

_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """One mask file as ``uint8 (H, W)`` in {0, 1}; errors name the file and what was expected."""
    from euromine_hf.data.archive import ArchiveError, _validate_label, read_label

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return read_label(path)
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ArchiveError(path, "mask", "a .npy array", f"unreadable ({error})") from None
    elif suffix == ".png":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                data = np.asarray(image)
        except (OSError, UnidentifiedImageError) as error:
            raise ArchiveError(path, "mask", "a PNG image", f"unreadable ({error})") from None
    else:
        raise ArchiveError(path, "file type", ".tif, .png or .npy", suffix or "no suffix")
    if data.ndim != 2:
        raise ArchiveError(path, "shape", "a 2-D mask (H, W), one channel", data.shape)
    return _validate_label(data, path)


def _years(paths: Sequence[Path], per_file: int) -> list[tuple[int, ...]] | None:
    """The years in each file name (``per_file`` of them), or None when a name has not exactly that many."""
    found = [tuple(int(y) for y in _YEAR.findall(p.name)) for p in paths]
    return found if all(len(f) == per_file for f in found) else None


def _natural_order(path: Path) -> list[str | int]:
    """Sort key reading the numbers in a name as numbers: ``ref_2`` before ``ref_10`` (a plain text
    sort pairs ``ref_10`` with the second prediction and scores perfect masks at OF1 0.5)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def score_files(
    name: str, predictions: Sequence[str | os.PathLike[str]], references: Sequence[str | os.PathLike[str]]
) -> dict[str, float]:
    """Scores of module ``name`` for uploaded prediction and reference files (the Space's function).

    ``yearly_f1``: any number of masks (years from the names when each has one, else one group).
    ``ca_tiou`` / ``post_classification``: one site's yearly masks. ``interval_f1``: one site's
    change masks per year pair (``Change2015_2016.tif``) against its yearly reference masks or
    the pairs' change masks.
    """
    from euromine_hf.metrics.modules import load

    if not predictions or not references:
        raise ValueError(f"{name}: upload prediction and reference mask files (got {len(predictions or [])} and {len(references or [])})")
    pred_paths = sorted((Path(p) for p in predictions), key=_natural_order)
    ref_paths = sorted((Path(p) for p in references), key=_natural_order)
    pred = [read_mask(p) for p in pred_paths]
    ref = [read_mask(p) for p in ref_paths]
    module = load(name)
    if name == "interval_f1":
        pairs = _years(pred_paths, 2)
        if pairs is None:  # the published order of all pairs
            return module.compute(predictions=pred, references=ref)
        ref_pairs, ref_years = _years(ref_paths, 2), _years(ref_paths, 1)
        if ref_pairs is not None:  # reference change masks, one per pair
            if ref_pairs != pairs:
                raise ValueError(f"interval_f1: the reference files name the year pairs {ref_pairs}, the predictions {pairs}")
            change = ref
        elif ref_years is not None:  # the site's yearly masks: the change of each pair is formed here
            yearly = {y[0]: m for y, m in zip(ref_years, ref)}
            missing = sorted({y for pair in pairs for y in pair} - set(yearly))
            if missing:
                raise ValueError(f"interval_f1: no reference mask for year(s) {missing} (files named like Year2016.tif)")
            change = [yearly[a] ^ yearly[b] for a, b in pairs]
        else:
            raise ValueError("interval_f1: reference files must be named by year (Year2016.tif) or year pair (Change2015_2016.tif)")
        return module.compute(predictions=pred, references=change, year_t1=[a for a, _ in pairs], year_t2=[b for _, b in pairs])
    if len(pred) != len(ref):
        raise ValueError(f"{name}: {len(pred)} prediction files but {len(ref)} reference files: expected one reference per prediction")
    years = _years(pred_paths, 1)
    if years is not None and _years(ref_paths, 1) not in (None, years):
        raise ValueError(f"{name}: the years in the reference file names {_years(ref_paths, 1)} differ from the predictions' {years}")
    if name == "yearly_f1" and (years is None or len({m.shape for m in pred + ref}) > 1):
        return module.compute(predictions=pred, references=ref)  # one group, masks of any sizes
    return module.compute(predictions=pred, references=ref, **({"years": [y[0] for y in years]} if years else {}))


def build_app(name: str) -> Any:
    """The Gradio interface over :func:`score_files` (imports gradio: on the Space, or ``pip install gradio``)."""
    import gradio as gr

    def score(predictions: list[Any] | None, references: list[Any] | None) -> dict[str, float]:
        files = [[getattr(f, "name", f) for f in (group or [])] for group in (predictions, references)]
        try:
            return score_files(name, files[0], files[1])
        except ValueError as error:  # user input: one line, not a traceback
            raise gr.Error(str(error)) from None

    return gr.Interface(
        fn=score,
        inputs=[
            gr.File(file_count="multiple", label="predicted masks (.tif, .png or .npy; 0/1 or 0/255)"),
            gr.File(file_count="multiple", label="reference masks (same names or years)"),
        ],
        outputs=gr.JSON(label="scores"),
        title=f"EuroMineNet {name}",
        description="Masks are scored with euromine_hf's counting core; files are ordered by name (numbers in a name as numbers) and a year in a name is its key.",
    )


def launch(name: str) -> None:
    """Run the Space's app (its ``app.py`` calls this)."""
    build_app(name).launch()
