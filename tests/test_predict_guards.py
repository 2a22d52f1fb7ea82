"""`euromine predict` never destroys what a user owns and never maps silently wrong (issue 18, items
1, 2, 4 and 5): outputs that are inputs or lie in the archive are refused before anything runs;
existing maps are kept unless ``--overwrite``, which replaces only maps predict wrote; a rerun
cleans the leftovers of a killed run; band descriptions decide the band order or fail naming the
band (``--band-order`` states it); thresholds outside (0, 1) are refused at parse time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from euromine_hf.bands import BANDS
from euromine_hf.cli import main as cli_main
from euromine_hf.inference import predict, predict_scene
from euromine_hf.predict_outputs import PREDICT_MARKER, PredictDestinationError, read_marker
from test_predict_maps import PixelMapModel, _segmenter

REPO = Path(__file__).resolve().parents[1]
CRS = "EPSG:32633"
TRANSFORM = from_origin(500000.0, 5600000.0, 10.0, 10.0)


def _model() -> PixelMapModel:
    """A 1×1 convolution whose bands all weigh differently, so a band-order mistake changes the map."""
    return _segmenter()


def _image(shape=(170, 180), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(200, 4000, size=(10,) + tuple(shape), dtype=np.uint16)


def _write(path: Path, data: np.ndarray, descriptions=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype.name, crs=CRS, transform=TRANSFORM) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


def _archive(root: Path) -> Path:
    for site, seed in (("Alpha_1", 1), ("Beta_2", 2)):
        for year in (2016, 2017):
            _write(root / site / "image" / f"Year{year}.tif", _image((165, 170), seed + year))
    return root


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(*argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "euromine_hf.cli", *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=300)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("euromine predict: error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    """A zoo model the command line can load in its own process."""
    from euromine_hf.models import build_model

    folder = tmp_path_factory.mktemp("guard") / "unet"
    torch.manual_seed(0)
    build_model("unet", size="tiny").save_pretrained(folder)
    return folder


# ---- item 1: outputs never replace inputs or what predict did not write --------------------------


def test_cli_refuses_to_write_a_map_over_its_input_image(saved_model, tmp_path):
    src = _write(tmp_path / "d" / "Year2016.tif", _image())
    before = src.read_bytes()
    line = _one_line(_cli("predict", saved_model, src, tmp_path / "d"))
    assert f"{src}: output: expected a new file, found the input" in line, line
    assert src.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["Year2016.tif"]


def test_outputs_inside_the_input_folder_are_refused_before_anything_runs(tmp_path):
    archive = _archive(tmp_path / "archive")
    before = _snapshot(archive)
    model = _model()
    calls = []
    model.segment = lambda x: calls.append(1) or PixelMapModel.segment(model, x)
    image_dir = archive / "Alpha_1" / "image"
    cases = [
        (image_dir, image_dir, "output folder: expected a folder outside the input .* found one that is it"),  # a site's image/
        (archive, archive, "output folder: expected a folder outside the input .* found one that is it"),  # OUT = the archive
        (archive, archive / "preds", "output folder: .* found one that lies inside it"),
        (archive / "Alpha_1", archive, r"Alpha_1/Year2016\.tif: output: expected a path outside the input .* resolves into it"),
    ]
    for source, out, message in cases:
        with pytest.raises(PredictDestinationError, match=message):
            predict(model, source, out, progress=False)
    # a site folder of OUT that is a link into the archive: the maps would land next to the images
    (tmp_path / "out").mkdir()
    os.symlink(image_dir, tmp_path / "out" / "Alpha_1")
    with pytest.raises(PredictDestinationError, match=r"out/Alpha_1/Year2016\.tif: output: expected a new file, found the input"):
        predict(model, archive, tmp_path / "out", progress=False)
    assert calls == [] and _snapshot(archive) == before
    assert not (tmp_path / "out" / "Beta_2").exists()


def test_existing_maps_are_kept_unless_overwrite_and_overwrite_replaces_only_predicts_maps(tmp_path):
    archive = _archive(tmp_path / "archive")
    out = tmp_path / "out"
    model = _model()
    predict(model, archive, out, progress=False)
    marker = read_marker(out / "Alpha_1")
    assert marker is not None and marker["runs"] == []
    assert sorted(marker["files"]) == ["Year2016.tif", "Year2016.tif.aux.xml", "Year2017.tif", "Year2017.tif.aux.xml"]
    first = _snapshot(out)
    with pytest.raises(FileExistsError, match=r"out/Alpha_1/Year2016\.tif: exists \(and 7 more\); kept \(pass --overwrite"):
        predict(model, archive, out, progress=False)
    assert _snapshot(out) == first
    with torch.no_grad():
        model.head.weight.mul_(-1)  # another model: every map changes
    written = predict(model, archive, out, progress=False, overwrite=True)
    assert len(written) == 4 and all(_snapshot(out)[k] != v for k, v in first.items() if k.endswith(".tif"))
    # a file predict did not write is kept, even with --overwrite, and nothing runs
    user = out / "Beta_2" / "Year2017.tif"
    user.write_bytes(b"my own analysis")
    (out / "Beta_2" / "Probability2016.tif").write_bytes(b"mine too")
    second = _snapshot(out)
    with pytest.raises(FileExistsError, match=r"Beta_2/Year2017\.tif: --overwrite: expected a map euromine predict wrote, found a file it did not write \(changed"):
        predict(model, archive, out, progress=False, overwrite=True)
    with pytest.raises(FileExistsError, match=r"Beta_2/Probability2016\.tif: --overwrite: .* did not write"):
        predict(model, archive, out, sites=["Beta_2"], years=[2016], save_probability=True, progress=False, overwrite=True)
    assert _snapshot(out) == second
    # a GIS side-car predict did not write (QGIS keeps statistics and styles there): kept, with or without --overwrite
    (out / "Alpha_1" / "Year2016.tif").unlink()
    (out / "Alpha_1" / "Year2016.tif.aux.xml").write_text("<PAMDataset><!-- my QGIS statistics --></PAMDataset>")
    third = _snapshot(out)
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=r"Alpha_1/Year2016\.tif\.aux\.xml: (exists|--overwrite: .*(did not write|side-car changed since))"):
            predict(model, archive, out, sites=["Alpha_1"], years=[2016], progress=False, overwrite=overwrite)
    assert _snapshot(out) == third
    # an unmarked folder holding a map of the same name (older tool, another program): kept
    (tmp_path / "old" / "Alpha_1").mkdir(parents=True)
    (tmp_path / "old" / "Alpha_1" / "Year2016.tif").write_bytes(b"old map")
    with pytest.raises(FileExistsError, match="not listed in"):
        predict(model, archive, tmp_path / "old", overwrite=True, progress=False)
    assert (tmp_path / "old" / "Alpha_1" / "Year2016.tif").read_bytes() == b"old map"
    assert not (tmp_path / "old" / "Alpha_1" / PREDICT_MARKER).exists()


def test_cli_keeps_existing_maps_and_overwrites_with_the_flag(saved_model, tmp_path):
    src = _write(tmp_path / "scene" / "Year2020.tif", _image())
    out = tmp_path / "maps"
    assert cli_main(["predict", str(saved_model), str(src), str(out)]) == 0
    before = (out / "Year2020.tif").read_bytes()
    line = _one_line(_cli("predict", saved_model, src, out))
    assert f"{out / 'Year2020.tif'}: exists (and 1 more); kept (pass --overwrite" in line, line  # its side-car
    assert (out / "Year2020.tif").read_bytes() == before
    assert cli_main(["predict", str(saved_model), str(src), str(out), "--overwrite", "--threshold", "0.3"]) == 0
    with rasterio.open(out / "Year2020.tif") as dst:
        assert dst.tags()["threshold"] == "0.3"


# ---- item 2: a rerun removes what its killed predecessors left --------------------------------


_KILLED_RUN = """
import os, signal, sys
from euromine_hf.inference import predict
from euromine_hf.models.loading import load_model
model = load_model(sys.argv[1])
calls = []
segment = model.segment
def dying(x):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as a user's kill -9 or the OOM killer would
    return segment(x)
model.segment = dying
predict(model, sys.argv[2], sys.argv[3], save_probability=True, batch_size=1, progress=False)
"""


def test_a_rerun_removes_the_leftovers_of_a_killed_run_and_nothing_else(saved_model, tmp_path):
    archive = _archive(tmp_path / "archive")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(saved_model), str(archive), str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    site = out / "Alpha_1"
    leftovers = sorted(p.name for p in site.iterdir() if p.name != PREDICT_MARKER)
    assert any(n.startswith(".Year2016.tif.") and n.endswith(".tmp.tif") for n in leftovers), leftovers
    assert any(n.startswith(".Year2016.tif.partial-") for n in leftovers), leftovers
    # files of the user's that look alike but are not predict's: kept
    (site / ".Year2016.tif.notes").write_text("keep")
    (site / "Year2016.tif.bak").write_text("keep")
    (tmp_path / "elsewhere").mkdir()
    foreign = tmp_path / "elsewhere" / ".Year2016.tif.abcd1234.tmp.tif"  # an unmarked folder
    foreign.write_text("keep")
    written = predict(_model(), archive, out, save_probability=True, progress=False)
    assert len(written) == 8
    assert sorted(p.name for p in site.iterdir()) == sorted(
        [PREDICT_MARKER, ".Year2016.tif.notes", "Probability2016.tif", "Probability2017.tif", "Year2016.tif", "Year2016.tif.aux.xml",
         "Year2016.tif.bak", "Year2017.tif", "Year2017.tif.aux.xml"])
    assert not [p for p in out.rglob("*") if ".tmp." in p.name or ".partial-" in p.name]
    assert foreign.exists()
    assert read_marker(site)["runs"] == []


def test_leftovers_of_a_run_still_writing_are_not_touched(tmp_path):
    archive = _archive(tmp_path / "archive")
    out = tmp_path / "out"
    predict(_model(), archive, out, sites=["Alpha_1"], years=[2016], progress=False)
    site = out / "Alpha_1"
    marker = json.loads((site / PREDICT_MARKER).read_text())
    marker["runs"] = [{"pid": os.getppid(), "host": socket.gethostname()}]  # a live process writing here
    (site / PREDICT_MARKER).write_text(json.dumps(marker))
    busy = site / ".Year2017.tif.k3j2abcd.tmp.tif"
    busy.write_text("being written")
    predict(_model(), archive, out, sites=["Alpha_1"], years=[2017], progress=False)
    assert busy.exists()
    assert read_marker(site)["runs"] == marker["runs"]


# ---- item 4: band order ------------------------------------------------------------------------


def test_descriptions_decide_the_band_order_or_fail_naming_the_band(tmp_path):
    image = _image(seed=5)
    model = _model()
    reversed_bands = list(reversed(BANDS))
    data = image[::-1].copy()
    expected, _ = predict_scene(model, image)
    cases = {
        "unknown": (reversed_bands[:9] + ["Blue"], r"band 10 description: expected a Sentinel-2 band name .* found 'Blue'"),
        "repeated": (["B02"] * 10, r"band 2 description: expected .* found B02 again \(band 1\)"),
        "partial": (reversed_bands[:4] + [""] * 6, r"band 5 description: expected .* found none"),
        "not a band": (reversed_bands[:9] + ["B13"], r"band 10 description: .* found 'B13'"),
    }
    for name, (descriptions, message) in cases.items():
        src = _write(tmp_path / name / "scene.tif", data, descriptions)
        with pytest.raises(ValueError, match=rf"scene\.tif: {message}"):
            predict(model, src, tmp_path / name / "out", progress=False)
        assert not (tmp_path / name / "out").exists()
        # --band-order states the order: the file is read as stated, and the map says so
        predict(model, src, tmp_path / name / "out", band_order=reversed_bands, progress=False)
        with rasterio.open(tmp_path / name / "out" / "scene_mine.tif") as dst:
            np.testing.assert_array_equal(dst.read(1), expected)
            assert dst.tags()["band_order"] == ",".join(reversed_bands)
            assert dst.tags()["band_order_source"] == "--band-order"
    # ten recognised names in any order, and no descriptions at all
    named = _write(tmp_path / "named.tif", data, [b.replace("B0", "B") for b in reversed_bands])
    plain = _write(tmp_path / "plain.tif", image)
    for src, source in ((named, "band descriptions"), (plain, "published order")):
        predict(model, src, tmp_path / "o", progress=False)
        with rasterio.open(tmp_path / "o" / f"{src.stem}_mine.tif") as dst:
            np.testing.assert_array_equal(dst.read(1), expected)
            assert dst.tags()["band_order_source"] == source
            assert dst.tags()["band_order"] == ",".join(reversed_bands if src is named else BANDS)


def test_generic_descriptions_mean_the_published_order_and_8_bit_images_are_refused(tmp_path):
    """The archive reader and predict share these rules (s17 data items 1 and 4)."""
    from euromine_hf.inference.band_order import ORDER_PUBLISHED, file_band_order

    generic = [f"Band {i}" for i in range(1, 11)]
    assert file_band_order("x.tif", generic, 10) == (list(BANDS), ORDER_PUBLISHED)
    with pytest.raises(ValueError, match=r"x\.tif: band 1 description: .* found 'Band 2'"):  # not its own index: not generic
        file_band_order("x.tif", ["Band 2", "Band 1", *generic[2:]], 10)
    model = _model()
    quick_look = _write(tmp_path / "quick.tif", (_image(seed=7) // 40).clip(0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"quick\.tif: dtype: expected integer Sentinel-2 digital numbers of at least 16 bits.*found uint8"):
        predict(model, quick_look, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_band_order(saved_model, tmp_path):
    image = _image(seed=6)
    src = _write(tmp_path / "scene.tif", image[::-1].copy(), list(reversed(BANDS))[:9] + ["Blue"])
    line = _one_line(_cli("predict", saved_model, src, tmp_path / "out"))
    assert f"{src}: band 10 description: expected a Sentinel-2 band name" in line and "--band-order" in line, line
    assert not (tmp_path / "out").exists()
    assert cli_main(["predict", str(saved_model), str(src), str(tmp_path / "out"), "--band-order", ",".join(reversed(BANDS))]) == 0
    from euromine_hf.models.loading import load_model

    expected = predict_scene(load_model(saved_model).eval(), image)[0]
    wrong = predict_scene(load_model(saved_model).eval(), image[::-1].copy())[0]
    with rasterio.open(tmp_path / "out" / "scene_mine.tif") as dst:
        assert dst.tags()["band_order_source"] == "--band-order"
        got = dst.read(1)
    np.testing.assert_array_equal(got, expected)
    assert (wrong != expected).mean() > 0.01  # the band order matters for this model


@pytest.mark.parametrize("value,message", [
    ("B02,B03", "missing B04"),
    ("B02,B02,B04,B05,B06,B07,B08,B8A,B11,B12", "B02 given twice"),
    ("B01,B03,B04,B05,B06,B07,B08,B8A,B11,B12", "'B01' is not one of them"),
])
def test_a_bad_band_order_is_refused_at_parse_time(tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["predict", str(tmp_path / "no-model"), str(tmp_path / "x.tif"), str(tmp_path / "out"), "--band-order", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("euromine predict: error: argument --band-order: expected the 10 band names"), err
    assert message in err[0]


# ---- item 5: threshold -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2", "nan", "0", "1", "-0.5", "inf", "half"])
def test_a_threshold_outside_0_1_is_refused_at_parse_time(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["predict", str(tmp_path / "no-model"), str(tmp_path / "x.tif"), str(tmp_path / "out"), "--threshold", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"euromine predict: error: argument --threshold: expected a probability strictly between 0 and 1, found {value!r}"]
    with pytest.raises(ValueError, match="--threshold: expected a probability strictly between 0 and 1"):
        predict(_model(), tmp_path / "x.tif", tmp_path / "out", threshold=float(value) if value != "half" else value, progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_threshold_nan_exits_2_with_one_line(saved_model, tmp_path):
    src = _write(tmp_path / "Year2020.tif", _image())
    line = _one_line(_cli("predict", saved_model, src, tmp_path / "out", "--threshold", "nan"))
    assert "--threshold: expected a probability strictly between 0 and 1, found 'nan'" in line
    assert not (tmp_path / "out").exists()


def test_the_command_refuses_a_destination_before_loading_weights(saved_model, tmp_path, monkeypatch, capsys):
    from euromine_hf.inference import cli as predict_cli

    def no_loading(path):
        raise AssertionError("weights loaded before the destination was checked")

    monkeypatch.setattr(predict_cli, "load_any", no_loading)
    archive = _archive(tmp_path / "archive")
    assert cli_main(["predict", str(saved_model), str(archive), str(archive / "maps")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "output folder: expected a folder outside the input" in err[0], err


def test_maps_are_never_written_into_the_model_folder_they_are_read_from(saved_model, tmp_path, capsys):
    """A model folder is pushed whole: maps predicted into it would be published with the weights."""
    from transformers import AutoModelForSemanticSegmentation

    import euromine_hf.models  # noqa: F401  (registers the zoo)

    model_dir = tmp_path / "model"
    import shutil

    shutil.copytree(saved_model, model_dir)
    before = _snapshot(model_dir)
    src = _write(tmp_path / "scene" / "Year2020.tif", _image())
    for out in (model_dir, model_dir / "maps"):
        assert cli_main(["predict", str(model_dir), str(src), str(out)]) == 2
        err = capsys.readouterr().err
        assert f"{out}: output folder: expected a folder outside the input {model_dir}" in err, err
        with pytest.raises(PredictDestinationError, match="expected a folder outside the input"):
            predict(AutoModelForSemanticSegmentation.from_pretrained(model_dir), src, out, progress=False)
    assert _snapshot(model_dir) == before


def test_overwrite_refuses_to_leave_a_probability_map_that_no_longer_matches(tmp_path):
    archive = _archive(tmp_path / "archive")
    out = tmp_path / "out"
    model = _model()
    predict(model, archive, out, save_probability=True, progress=False)
    first = _snapshot(out)
    with pytest.raises(FileExistsError, match=r"Probability2016\.tif: kept, but it would no longer match Year2016\.tif.*--probabilities"):
        predict(model, archive, out, sites=["Alpha_1"], years=[2016], overwrite=True, progress=False)
    assert _snapshot(out) == first
    assert predict(model, archive, out, sites=["Alpha_1"], years=[2016], overwrite=True, save_probability=True, progress=False)


def test_a_side_car_gis_wrote_statistics_into_is_named_as_such(tmp_path):
    archive = _archive(tmp_path / "archive")
    out = tmp_path / "out"
    predict(_model(), archive, out, sites=["Alpha_1"], years=[2016], progress=False)
    with rasterio.open(out / "Alpha_1" / "Year2016.tif") as src:  # what QGIS does on opening a layer
        src.stats(approx=False)
    with pytest.raises(FileExistsError, match=r"Year2016\.tif\.aux\.xml: --overwrite: .*side-car changed since .*QGIS.*remove the side-car"):
        predict(_model(), archive, out, sites=["Alpha_1"], years=[2016], progress=False, overwrite=True)


def test_pairs_as_text_work_in_python_as_on_the_command_line(tmp_path):
    from test_predict_maps import _detector

    archive = _archive(tmp_path / "archive")
    written = predict(_detector(), archive, tmp_path / "out", pairs="2016:2017", sites=["Alpha_1"], progress=False)
    assert [p.name for p in written] == ["Change2016_2017.tif"]
    with pytest.raises(ValueError, match="--pairs: expected items 'Y1:Y2'"):
        predict(_detector(), archive, tmp_path / "out2", pairs="2016-2017", progress=False)


def test_a_model_without_band_names_is_told_what_to_build_it_with(tmp_path, capsys):
    """num_channels=4 without band_names gives placeholders band0..band3: predict says how to name them."""
    from euromine_hf.models import build_model

    build_model("unet", size="tiny", num_channels=4).save_pretrained(tmp_path / "model")
    src = _write(tmp_path / "scene" / "Year2020.tif", _image())
    assert cli_main(["predict", str(tmp_path / "model"), str(src), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "config.json band_names ['band0', 'band1', 'band2', 'band3']: no published normalisation" in err
    assert "built with num_channels=4 and no band_names; build it with band_names=[...]" in err
    assert not (tmp_path / "out").exists()
