"""The README's command-line chain runs as written (issue 20, item 5).

The block marked ``<!-- cli-chain ... -->`` in README.md is read from the file and each line is
run through ``euromine``'s entry point in a temporary working directory. Two substitutions keep it
fast, both at the paths the README names: ``outputs/demo/model`` (what ``make demo`` writes) is a
tiny Segformer saved there, and ``euromine synth outputs/archive`` (28 s for 12 sites) is replaced
by a copy of the session's 3-site synthetic archive. Everything else runs verbatim.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

from _data_fixtures import small_archive  # noqa: F401

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(marker: str) -> list[str]:
    """The command lines of the fenced block that follows ``<!-- {marker}`` (comments stripped)."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {re.escape(marker)}[^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert match, f"README.md: no ```bash block after <!-- {marker} -->"
    return [shlex.split(line, comments=True) for line in match.group(1).splitlines() if line.strip()]


def test_readme_cli_chain_runs_as_written(small_archive, tmp_path, monkeypatch, capsys):  # noqa: F811
    import euromine_hf.models  # noqa: F401
    from euromine_hf.cli import main
    from euromine_hf.models import build_model

    monkeypatch.chdir(tmp_path)
    build_model("segformer", size="tiny").save_pretrained("outputs/demo/model")
    commands = readme_block("cli-chain")
    assert [c[:2] for c in commands] == [["euromine", "synth"], ["euromine", "predict"], ["euromine", "evaluate"]]
    for argv in commands:
        assert argv[0] == "euromine"
        if argv[1] == "synth":
            shutil.copytree(small_archive, argv[2])  # the tiny archive, where the README writes one
            continue
        assert main(argv[1:]) == 0, f"README command failed: {' '.join(argv)}\n{capsys.readouterr().err}"
    # evaluate read what predict wrote, and --paper without --model lists every paper row of Table 4
    scores = json.loads(Path("outputs/evaluate/scores.json").read_text())
    assert list(scores["scores"]) == ["pred"] and 0.0 <= scores["scores"]["pred"]["OF1"] <= 1.0
    table = json.loads(Path("outputs/evaluate/table4_mapping.json").read_text())
    paper = [r["model"] for r in table["rows"] if r["source"] == "paper"]
    reported = json.loads((Path(euromine_hf.__file__).parent / "resources" / "paper_results.json").read_text())["mapping"]
    assert sorted(paper) == sorted(reported) and len(paper) == 11


def test_readme_series_chain_runs_as_written(small_archive, tmp_path, monkeypatch, capsys):  # noqa: F811
    """The series model's commands (a folder of yearly images, an archive's test split, evaluate for
    both tasks) and its Python snippet, with a tiny utae-series where the README loads one."""
    import torch

    from euromine_hf.cli import main
    from euromine_hf.models import build_model

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    build_model("utae-series", size="tiny").save_pretrained("runs/utae-series/model")
    shutil.copytree(small_archive, "outputs/archive")
    site = sorted(p for p in Path("outputs/archive").iterdir() if (p / "image").is_dir())[0]
    shutil.copytree(site / "image", "site/image")
    commands = readme_block("series-chain")
    assert [c[:2] for c in commands] == [["euromine", "predict"]] * 2 + [["euromine", "evaluate"]] * 2
    for argv in commands:
        assert main(argv[1:]) == 0, f"README command failed: {' '.join(argv)}\n{capsys.readouterr().err}"
    assert {p.name for p in Path("maps").glob("*.tif")} >= {"Year2015.tif", "Year2024.tif", "Change2015_2024.tif"}
    for task in ("mapping", "change"):
        assert json.loads(Path(f"outputs/series-{task}/scores.json").read_text())["scores"]
    text = README.read_text(encoding="utf-8").split("### One model for the whole series", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    shutil.rmtree("maps")
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    assert len(scope["written"]) == 10 + 45
