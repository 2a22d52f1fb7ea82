"""The metrics' simplest calls (issue 20, item 1): masks in, scores out, no keywords needed where
the input says it all; the Space's app scores uploaded mask files (tested without gradio)."""

from __future__ import annotations

import re
import sys
import types
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from euromine_hf.bands import YEARS
from euromine_hf.metrics import MODULE_NAMES, load
from euromine_hf.metrics.modules import module_dir, space_files
from euromine_hf.metrics.space_app import read_mask, score_files


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")


def _series(n: int, shape=(24, 20), seed=0):
    rng = np.random.default_rng(seed)
    truth = [(rng.random(shape) < 0.3).astype(np.uint8) for _ in range(n)]
    pred = [(t ^ (rng.random(shape) < 0.1)).astype(np.uint8) for t in truth]
    return pred, truth


def test_yearly_f1_list_of_masks_is_one_group():
    pred, truth = _series(3)
    scores = load("yearly_f1").compute(predictions=pred, references=truth)
    p, g = np.stack(pred).astype(bool), np.stack(truth).astype(bool)
    tp, fp, fn = (p & g).sum(), (p & ~g).sum(), (~p & g).sum()
    assert scores["F1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert scores["OF1"] == scores["F1"] and scores["IoU"] == pytest.approx(tp / (tp + fp + fn))
    assert not any(k.startswith("F1_") for k in scores)  # no year was given: no per-year column
    with_years = load("yearly_f1").compute(predictions=pred, references=truth, years=[2015, 2016, 2017])
    assert set(with_years) >= {"F1_2015", "F1_2016", "F1_2017"} and with_years["OF1"] == pytest.approx(scores["OF1"])


def test_yearly_f1_group_of_masks_of_several_sizes():
    (a, ga), (b, gb) = _series(1, (24, 20), seed=6), _series(1, (9, 31), seed=7)
    scores = load("yearly_f1").compute(predictions=[a[0], b[0]], references=[ga[0], gb[0]])
    p = np.concatenate([a[0].ravel(), b[0].ravel()]).astype(bool)
    g = np.concatenate([ga[0].ravel(), gb[0].ravel()]).astype(bool)
    tp, fp, fn = (p & g).sum(), (p & ~g).sum(), (~p & g).sum()
    assert scores["F1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    with pytest.raises(ValueError, match=r"^ca_tiou: predictions: masks of one series must share a size"):
        load("ca_tiou").compute(predictions=[a[0], b[0]] * 5, references=[ga[0], gb[0]] * 5)


def test_yearly_f1_years_for_some_batches_only_is_an_error():
    pred, truth = _series(2)
    module = load("yearly_f1")
    module.add_batch(predictions=pred, references=truth)
    with pytest.raises(ValueError, match=r"^yearly_f1: years were given for some batches and not for others"):
        module.add_batch(predictions=pred, references=truth, years=[2015, 2016])


def test_ca_tiou_one_site_series_without_keywords():
    pred, truth = _series(10)
    simple = load("ca_tiou").compute(predictions=pred, references=truth)
    explicit = load("ca_tiou").compute(predictions=np.stack(pred)[None], references=np.stack(truth)[None], years=list(YEARS))
    assert simple == explicit and 0 < simple["GCA-TIoU"] < 1
    shuffled = [9, 3, 0, 1, 2, 4, 5, 6, 7, 8]  # years given: any order
    given = load("ca_tiou").compute(predictions=[pred[i] for i in shuffled], references=[truth[i] for i in shuffled],
                                    years=[YEARS[i] for i in shuffled])
    assert given == simple
    short = load("ca_tiou", years=[2019, 2020, 2021]).compute(predictions=pred[:3], references=truth[:3])
    assert set(short) == {"LCA-TIoU", "GCA-TIoU", "CA-TIoU_2019_2020", "CA-TIoU_2019_2021", "CA-TIoU_2020_2021"}


def test_ca_tiou_ambiguous_series_names_the_keyword_in_one_line():
    pred, truth = _series(3)
    with pytest.raises(ValueError) as error:
        load("ca_tiou").compute(predictions=pred, references=truth)
    message = str(error.value)
    assert "\n" not in message and message.startswith("ca_tiou: 3 masks without years") and "years=[...]" in message
    with pytest.raises(ValueError, match=r"^ca_tiou: years \[2015, 2016, 2017\] for 3 masks"):
        load("ca_tiou").compute(predictions=pred, references=truth, years=[2015, 2016, 2017])


def test_interval_f1_one_site_series_in_the_published_pair_order():
    pred, truth = _series(10, seed=1)
    pairs = list(combinations(YEARS, 2))
    change = [pred[YEARS.index(a)] ^ pred[YEARS.index(b)] for a, b in pairs]
    simple = load("interval_f1").compute(predictions=change, references=truth)
    ref_change = [truth[YEARS.index(a)] ^ truth[YEARS.index(b)] for a, b in pairs]
    explicit = load("interval_f1").compute(predictions=change, references=ref_change,
                                           year_t1=[a for a, _ in pairs], year_t2=[b for _, b in pairs])
    assert simple == explicit and set(f"F1_interval_{k}" for k in range(1, 10)) <= set(simple)
    assert load("interval_f1").compute(predictions=change, references=ref_change) == explicit
    with pytest.raises(ValueError, match=r"^interval_f1: 10 change masks without year_t1/year_t2: expected 45 .*year_t1=\[\.\.\.\]"):
        load("interval_f1").compute(predictions=pred, references=truth)


def test_post_classification_one_site_series():
    pred, truth = _series(10, seed=2)
    simple = load("post_classification").compute(predictions=pred, references=truth)
    explicit = load("post_classification").compute(predictions=np.stack(pred)[None], references=np.stack(truth)[None], years=list(YEARS))
    assert simple == explicit


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_cards_show_the_simplest_call_first(name):
    text = (module_dir(name) / "README.md").read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1]
    first = re.search(r"```python\n(.*?)```", body, re.S).group(1)
    assert body.index("```python") < body.index("## Inputs")
    call = re.search(r"\.compute\(([^)]*)\)", first).group(1)
    assert call.replace(" ", "") in ("predictions=predictions,references=references", "predictions=pred,references=truth",
                                     "predictions=change,references=truth"), call


# ---- the Space's app --------------------------------------------------------------------------


def _write_masks(folder: Path, masks, names):
    from PIL import Image

    from euromine_hf.data.geotiff import write_geotiff

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for mask, name in zip(masks, names):
        path = folder / name
        if name.endswith(".npy"):
            np.save(path, mask)
        elif name.endswith(".png"):
            Image.fromarray((mask * 255).astype(np.uint8)).save(path)
        else:
            from rasterio.transform import from_origin

            write_geotiff(path, mask[None].astype(np.uint8) * 255, "EPSG:32633", from_origin(500000, 5600000, 10, 10))
        paths.append(str(path))
    return paths[::-1]  # uploads come in any order: the app orders them by name


def test_space_scores_uploaded_mask_files(tmp_path):
    pred, truth = _series(10, seed=4)
    kinds = [".tif", ".png", ".npy"]
    pred_files = _write_masks(tmp_path / "p", pred, [f"Year{y}{kinds[i % 3]}" for i, y in enumerate(YEARS)])
    ref_files = _write_masks(tmp_path / "g", truth, [f"Year{y}.tif" for y in YEARS])
    assert np.array_equal(read_mask(pred_files[-2]), pred[1])  # the png, values 0/255 read as 0/1
    assert score_files("ca_tiou", pred_files, ref_files) == load("ca_tiou").compute(predictions=pred, references=truth)
    yearly = score_files("yearly_f1", pred_files, ref_files)
    assert yearly == load("yearly_f1").compute(predictions=pred, references=truth, years=list(YEARS))
    pairs = list(combinations(YEARS, 2))
    change = [pred[YEARS.index(a)] ^ pred[YEARS.index(b)] for a, b in pairs]
    change_files = _write_masks(tmp_path / "c", change, [f"Change{a}_{b}.npy" for a, b in pairs])
    assert score_files("interval_f1", change_files, ref_files) == load("interval_f1").compute(predictions=change, references=truth)
    with pytest.raises(ValueError, match=r"^ca_tiou: 10 prediction files but 3 reference files"):
        score_files("ca_tiou", pred_files, ref_files[:3])
    (tmp_path / "bad.txt").write_text("x")
    with pytest.raises(ValueError, match=r"bad\.txt.*file type.*\.tif, \.png or \.npy"):
        score_files("yearly_f1", [str(tmp_path / "bad.txt")], ref_files[:1])


def test_space_app_py_serves_the_scoring_function(tmp_path, monkeypatch):
    """app.py as published, run against a stand-in gradio module (gradio is an optional extra)."""
    built = {}

    class Interface:
        def __init__(self, fn, inputs, outputs, **kwargs):
            built.update(fn=fn, inputs=inputs)

        def launch(self):
            built["launched"] = True

    class Error(Exception):
        pass

    fake = types.SimpleNamespace(Interface=Interface, File=lambda **kw: ("File", kw), JSON=lambda **kw: "JSON", Error=Error)
    monkeypatch.setitem(sys.modules, "gradio", fake)
    app = space_files("yearly_f1", "someone")["app.py"].decode()
    assert "launch_gradio_widget" not in app
    exec(compile(app, "app.py", "exec"), {})
    assert built["launched"] and [kind for kind, _ in built["inputs"]] == ["File", "File"]
    pred, truth = _series(2, seed=5)
    files = [_write_masks(tmp_path / d, m, ["a.npy", "b.npy"]) for d, m in (("p", pred), ("g", truth))]
    uploads = [[types.SimpleNamespace(name=f) for f in group] for group in files]  # gradio's file objects
    assert built["fn"](*uploads) == load("yearly_f1").compute(predictions=pred, references=truth)
    with pytest.raises(Error, match="upload prediction and reference mask files"):
        built["fn"](None, uploads[1])


def test_space_files_numbered_without_years_are_paired_in_number_order(tmp_path):
    """``ref_1 … ref_10`` beside ``Year2015 … Year2024``: a text sort put ref_10 second and scored identical
    masks at OF1 0.495; numbers in names are read as numbers."""
    from euromine_hf.metrics.space_app import score_files

    masks = (np.random.default_rng(0).random((10, 8, 8)) < 0.5).astype(np.uint8)
    pred, ref, numbered = [], [], []
    for t in range(10):
        for name, group in ((f"Year{2015 + t}.npy", pred), (f"ref_{t + 1}.npy", ref), (f"pred_{t + 1}.npy", numbered)):
            np.save(tmp_path / name, masks[t])
            group.append(tmp_path / name)
    assert score_files("yearly_f1", pred, ref[::-1])["OF1"] == 1.0
    assert score_files("ca_tiou", numbered, ref)["LCA-TIoU"] == 1.0


def test_bad_metric_inputs_are_named_where_they_were_given():
    """Each message names what the user passed: load keywords evaluate would drop, too few years for a
    pair score, intervals (not the years formed from them), a channel axis, one site of two sizes."""
    import euromine_hf.metrics as metrics

    m = np.eye(8, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"ca_tiou: years \[2015\]: expected at least 2 years"):
        metrics.load("ca_tiou", years=[2015])
    with pytest.raises(ValueError, match=r"interval_f1: unexpected load keyword\(s\) \['intervals'\]"):
        metrics.load("interval_f1", intervals=[1])
    with pytest.raises(ValueError, match=r"intervals: expected 1\.\.9 \(years 2015-2024\), got 0 at sample 0"):
        metrics.load("interval_f1").compute(predictions=[m] * 45, references=[m] * 45, intervals=[0] * 45)
    with pytest.raises(ValueError, match=r"predictions\[0\]: expected a 2-D mask \(H, W\), got shape \(8, 8, 1\)"):
        metrics.load("ca_tiou").compute(predictions=[m[..., None]] * 10, references=[m[..., None]] * 10)
    with pytest.raises(ValueError, match=r"site 'a' declared 8x16 before and 16x16 now: expected one size per site"):
        metrics.load("yearly_f1").compute(predictions=[m, m], references=[m, m], years=[2015, 2015], sites=["a", "a"],
                                          patches=[0, 1], rows=[0, 0], cols=[0, 8], site_heights=[8, 16], site_widths=[16, 16])


def test_masks_of_several_sizes_with_years_are_scored_one_by_one():
    import euromine_hf.metrics as metrics

    small, big = np.eye(4, dtype=np.uint8), np.eye(8, dtype=np.uint8)
    scores = metrics.load("yearly_f1").compute(predictions=[small, big], references=[small, 1 - big], years=[2015, 2016])
    assert scores["F1_2015"] == 1.0 and scores["F1_2016"] == 0.0
