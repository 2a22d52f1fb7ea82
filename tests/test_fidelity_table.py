"""docs/fidelity.md: one row per zoo model, and parameter columns equal to bench/fidelity_params.py's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from euromine_hf.models import MODEL_ZOO, zoo_names

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "fidelity.md"
#: Columns of the per-model tables: model, reference, identical, differences, 3 bands, 10 bands, published, checkpoint.
COLUMNS = 8


def _model_rows() -> dict[str, list[str]]:
    """The cells of every table row whose first cell names a zoo model."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in MODEL_ZOO and len(cells) == COLUMNS:
            assert cells[0] not in rows, f"docs/fidelity.md: two rows for {cells[0]}"
            rows[cells[0]] = cells
    return rows


def _script():
    spec = importlib.util.spec_from_file_location("fidelity_params", ROOT / "bench" / "fidelity_params.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_zoo_model_has_one_complete_row() -> None:
    rows = _model_rows()
    expected = set(zoo_names("segmentation")) | set(zoo_names("change_detection"))
    assert len(expected) == 31 and set(rows) == expected, sorted(expected ^ set(rows))
    for name, cells in rows.items():
        assert all(cells[1:4]) and cells[7], f"{name}: empty reference / identical / differences / checkpoint cell"
        if MODEL_ZOO[name].task == "change_detection":
            assert "EricYu97/UCD" in cells[1] and "6972640" in cells[1], f"{name}: reference is not the framework snapshot"


def test_every_multitemporal_model_is_described_beyond_the_paper() -> None:
    """Multitemporal models have no paper run to reproduce: each has its own subsection under
    "Beyond the paper" naming its design sources, and no row in the per-model tables."""
    names = zoo_names("multitemporal")
    assert names
    text = DOC.read_text(encoding="utf-8")
    assert "\n## Beyond the paper\n" in text
    beyond = text.split("\n## Beyond the paper\n", 1)[1].split("\n## ", 1)[0]
    for name in names:
        assert f"### {name} (" in beyond, name
        section = beyond.split(f"### {name} (", 1)[1].split("\n### ", 1)[0]
        assert "Design sources" in section and "Deliberate differences" in section, name
    assert not set(names) & set(_model_rows())


def test_architecture_links_the_table() -> None:
    assert "docs/fidelity.md" in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_parameter_columns_are_the_scripts() -> None:
    """Built on the meta device for all 31 models at 3 and 10 bands (about 10 s here)."""
    rows = _model_rows()
    for row in _script().rows():
        cells = rows[row["name"]]
        assert cells[4] == f"{row['params_3'] / 2**20:.2f}", (row["name"], cells[4])
        assert cells[5] == f"{row['params_10'] / 1e6:.2f}", (row["name"], cells[5])
        if row["published"] is None:
            assert cells[6] == "–"
        else:
            assert cells[6].startswith(f"{row['published']:.2f} (") and f"{row['difference_pct']:+.1f} %" in cells[6]
