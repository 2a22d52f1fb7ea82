"""``euromine leaderboard``: scoring
equal to ``euromine evaluate``, ranking, Markdown/CSV/HTML output, and publishing to the Hub's
eval results + dataset leaderboard against LocalHub. Validation: ``test_leaderboard_validation.py``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from _leaderboard_fixtures import PAIRS, board_archive, copy_sub, split_sites, subs, write_meta  # noqa: F401  (board_archive, subs: session fixtures)
from euromine_hf.cli import main
from euromine_hf.hub import leaderboard as lb
from euromine_hf.hub.card_rules import check_card_text



def _lb(*argv) -> int:
    return main(["leaderboard", *[str(a) for a in argv]])


# ---- scoring ------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::euromine_hf.data.archive.ArchiveWarning")  # evaluate: submission.json
@pytest.mark.parametrize("folder,task", [("map_good", "mapping"), ("map_patches", "mapping"), ("cd_good", "change")])
def test_submit_scores_equal_euromine_evaluate(board_archive, subs, tmp_path, folder, task, capsys):  # noqa: F811
    results = tmp_path / "board"
    assert _lb("submit", subs / folder, "--archive", board_archive, "--results", results) == 0
    (entry_file,) = results.glob("entries/*/*.json")
    entry = json.loads(entry_file.read_text())
    assert main(["evaluate", str(board_archive), str(subs / folder), "--split", "test", "--task", task, "--output", str(tmp_path / "ev")]) == 0
    evaluated = next(iter(json.loads((tmp_path / "ev" / "scores.json").read_text())["scores"].values()))
    assert entry["scores"] == pytest.approx(evaluated) and set(entry["scores"]) == set(evaluated)
    assert entry["format"] == lb.RESULT_FORMAT and entry["protocol"] == "site" and entry["split"] == "test"
    assert entry["archive"]["synthetic"] is True and entry["submission_sha256"]
    assert (0.5 if task == "mapping" else 0.1) < entry["scores"]["OF1"] < 1.0
    out = capsys.readouterr().out
    assert "OF1" in out and str(entry_file) in out


def test_same_predictions_as_rasters_or_patches_score_the_same(board_archive, subs):  # noqa: F811
    a = lb.score_submission(lb.validate_submission(subs / "map_good", board_archive))
    b = lb.score_submission(lb.validate_submission(subs / "map_patches", board_archive))
    assert a == pytest.approx(b)














def test_format_action_prints_the_shipped_document(capsys):
    assert _lb("format") == 0
    out = capsys.readouterr().out
    assert out.startswith("# EuroMineNet leaderboard: submission format") and "Change{Y1}_{Y2}.tif" in out


# ---- ranking and outputs ------------------------------------------------------------------------


def test_ranking_and_show_outputs(board_archive, subs, tmp_path):  # noqa: F811
    results = tmp_path / "board"
    for folder in ("map_good", "map_patches", "cd_good", "cd_worse"):
        assert _lb("submit", subs / folder, "--archive", board_archive, "--results", results) == 0
    worse = copy_sub(subs, "map_worse", tmp_path / "evil")
    write_meta(worse, "mapping", "=HYPERLINK(\"x\") <script>alert(1)</script>")
    assert _lb("submit", worse, "--archive", board_archive, "--results", results) == 0
    assert _lb("show", "--results", results, "--out", tmp_path / "site") == 0

    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "## Multitemporal mine mapping" in md and "## Mine change detection" in md
    assert "paper (real EuroMineNet), Table 4" in md and "paper (real EuroMineNet), Table 6, post-classification" in md

    rows = list(csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text())))
    ours = [r for r in rows if r["reference"] == "no"]
    assert [r["rank"] for r in ours] == ["1", "1", "3"]  # the same masks as GeoTIFFs and as patches: a tie
    assert [float(r["OF1"]) for r in ours] == sorted((float(r["OF1"]) for r in ours), reverse=True)
    assert ours[-1]["model"].startswith("'=HYPERLINK")  # no spreadsheet formula
    ref = [r for r in rows if r["reference"] == "yes"]
    assert len(ref) == 11 and all(r["rank"] == "" and r["source"] == "paper (real EuroMineNet), Table 4" for r in ref)
    assert float(next(r for r in ref if r["model"] == "UNet")["OF1"]) == pytest.approx(0.8505)
    cd = list(csv.DictReader(io.StringIO((tmp_path / "site" / "change_detection.csv").read_text())))
    assert [r["model"] for r in cd if r["reference"] == "no"] == ["BIT good", "BIT worse"]
    assert {r["source"] for r in cd if r["reference"] == "yes"} == {"paper (real EuroMineNet), Table 5", "paper (real EuroMineNet), Table 6, post-classification"}

    page = (tmp_path / "site" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1 and "http://" not in page.split("<script>")[1]
    assert 'id="board-mapping"' in page and 'id="board-change_detection"' in page


def test_show_reads_model_cards_and_merges_sources(tmp_path):
    rows = lb.rank_rows(lb.dedupe_rows(
        lb.rows_from_entries([{"task": "mapping", "model": "A", "scores": {"OF1": 0.5}, "model_repo": "u/a", "archive": {"synthetic": True, "name": "x"}}])
        + [lb.make_row("mapping", "A card", "model card", {"OF1": 0.5, "GCA-TIoU": 0.4}, model_repo="u/a"),
           lb.make_row("mapping", "B", "model card", {"OF1": 0.7}, model_repo="u/b")]
        + lb.paper_rows("mapping")
    ))
    mine = [r for r in rows if not r["reference"]]
    assert [(r["model"], r["rank"]) for r in mine] == [("B", 1), ("A", 2)]
    assert mine[1]["source"] == "local, model card" and mine[1]["scores"]["GCA-TIoU"] == 0.4
    assert rows[0]["reference"] and rows[0]["model"] == "UperNet (SwinT-B)"  # 0.8558 tops everything here


# ---- Hub ----------------------------------------------------------------------------------------


EVAL_YAML = """name: EuroMineNet (synthetic stand-in)
description: Sentinel-2 mine mapping and change detection benchmark.
evaluation_framework: euromine-hf
tasks:
  - id: multitemporal-mapping
    config: timeseries
    split: test
  - id: change-detection
    config: cd_pairs
    split: test
"""


@pytest.fixture
def hub(tmp_path):
    from euromine_hf.testing import LocalHub, use_local_hub

    with LocalHub() as local, use_local_hub(local, tmp_path / "hf_home"):
        yield local
        assert local.unknown_requests == [], local.unknown_requests


def _benchmark(eval_yaml: str = EVAL_YAML, repo: str = "user/euromine") -> str:
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, repo_type="dataset")
    api.upload_file(path_or_fileobj=eval_yaml.encode(), path_in_repo="eval.yaml", repo_id=repo, repo_type="dataset")
    return repo


def test_push_puts_the_model_on_the_dataset_leaderboard(board_archive, subs, tmp_path, hub, monkeypatch):  # noqa: F811
    from huggingface_hub import HfApi, ModelCard, parse_eval_result_entries

    dataset = _benchmark()
    results = tmp_path / "board"
    for folder in ("map_good", "map_worse", "cd_good"):
        assert _lb("submit", subs / folder, "--archive", board_archive, "--results", results, "--push", "--dataset-repo", dataset) == 0
    entry = json.loads(next(results.glob("entries/mapping/unet-good-*.json")).read_text())
    path = entry["hub"]["eval_results_file"]
    assert path == ".eval_results/user--euromine--multitemporal-mapping.yaml"

    (item,) = yaml.safe_load(hub.file_content("user/unet-good", path))
    assert item["dataset"] == {"id": dataset, "task_id": "multitemporal-mapping", "revision": entry["hub"]["dataset_revision"]}
    assert item["value"] == pytest.approx(entry["scores"]["OF1"]) and "GCA-TIoU" in item["notes"]
    assert parse_eval_result_entries([item])[0].task_id == "multitemporal-mapping"
    card = ModelCard.load("user/unet-good")
    # the repo submit created says what it is: results of a synthetic-archive run, no weights; never "EuroMineNet"
    assert "More Information Needed" not in card.text and "leaderboard entry" in card.text and "no model weights" in card.text
    assert "synthetic" in card.text and "https://example.org/code" in card.text
    # the card passes the Hub's metadata rules, with the submitter's licence or "unknown", never one chosen for them
    check_card_text(card.content, "model", "created card")
    assert card.data.license == "unknown"
    assert {r.dataset_name for r in card.data.eval_results} == {"EuroMineNet (synthetic stand-in)"}
    metrics = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert metrics["GCA-TIoU"] == pytest.approx(entry["scores"]["GCA-TIoU"]) and len(metrics) == 13
    assert HfApi().model_info("user/unet-good", expand=["evalResults"]).eval_results[0].value == pytest.approx(entry["scores"]["OF1"])

    # What the Hub's leaderboard endpoint returns is the server's logic (ranking, filters); what is
    # ours is that each pushed entry reaches it, under the right task, with the value we pushed.
    board = HfApi().get_dataset_leaderboard(dataset, base_model_only=False)
    mapping = {e.model_id: e for e in board if e.taskId == "multitemporal-mapping"}
    assert set(mapping) == {"user/unet-good", "user/unet-worse"}
    assert mapping["user/unet-good"].value == pytest.approx(entry["scores"]["OF1"])
    assert [e.model_id for e in board if e.taskId == "change-detection"] == ["user/bit-good"]

    # a resubmission replaces the model's entry (same file, card results replaced, not doubled)
    assert _lb("submit", subs / "map_good", "--archive", board_archive, "--results", results, "--push", "--dataset-repo", dataset) == 0
    assert len(ModelCard.load("user/unet-good").data.eval_results) == 13
    assert len([e for e in HfApi().get_dataset_leaderboard(dataset, base_model_only=False) if e.model_id == "user/unet-good"]) == 1

    # show asks for every model, fine-tunes included (a card declaring base_model), and ranks the rows
    # itself: the endpoint's order is not trusted (here it is reversed).
    HfApi().upload_file(path_or_fileobj=b"---\nbase_model: user/unet-good\n---\n", path_in_repo="README.md", repo_id="user/unet-worse")
    calls = []
    original = HfApi.get_dataset_leaderboard

    def reversed_board(self, repo_id, **kwargs):
        calls.append(kwargs)
        return list(reversed(original(self, repo_id, **kwargs)))

    monkeypatch.setattr(HfApi, "get_dataset_leaderboard", reversed_board)
    assert _lb("show", "--results", tmp_path / "none", "--dataset-repo", dataset, "--out", tmp_path / "site") == 0
    assert calls and all(c.get("base_model_only") is False for c in calls)
    monkeypatch.setattr(HfApi, "get_dataset_leaderboard", original)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text())))
    hub_rows = [r for r in rows if r["reference"] == "no"]
    assert [r["model"] for r in hub_rows] == ["user/unet-good", "user/unet-worse"]
    assert float(hub_rows[0]["GCA-TIoU"]) == pytest.approx(entry["scores"]["GCA-TIoU"])  # from the card
    assert hub_rows[0]["source"] == "hub leaderboard"
    assert _lb("show", "--results", results, "--model-repo", "user/bit-good", "--out", tmp_path / "site2") == 0
    cd_rows = list(csv.DictReader(io.StringIO((tmp_path / "site2" / "change_detection.csv").read_text())))
    assert [r["source"] for r in cd_rows if r["reference"] == "no"] == ["local, model card"]

    # the submitter's licence goes on the card submit creates
    licensed = copy_sub(subs, "map_worse", tmp_path / "licensed")
    write_meta(licensed, "mapping", "UNet licensed", model_repo="user/unet-licensed", license="cc-by-4.0")
    assert _lb("submit", licensed, "--archive", board_archive, "--results", tmp_path / "board2", "--push", "--dataset-repo", dataset) == 0
    assert ModelCard.load("user/unet-licensed").data.license == "cc-by-4.0"


def test_synthetic_scores_are_never_pushed_as_euromine_results(board_archive, subs, tmp_path, hub, capsys):  # noqa: F811
    from huggingface_hub import HfApi

    real = _benchmark(EVAL_YAML.replace("name: EuroMineNet (synthetic stand-in)", "name: EuroMineNet"), repo="user/real")
    results = tmp_path / "board"
    assert _lb("submit", subs / "map_good", "--archive", board_archive, "--results", results, "--push", "--dataset-repo", real) == 2
    err = capsys.readouterr().err
    assert ("dataset repo user/real: eval.yaml name: expected a synthetic dataset (name containing 'synthetic'), as these "
            "scores are on the synthetic archive, found 'EuroMineNet'") in err
    assert not HfApi().repo_exists("user/unet-good") and not results.exists()


def test_show_lists_authors_links_and_description(board_archive, subs, tmp_path):  # noqa: F811
    folder = copy_sub(subs, "map_worse", tmp_path / "sub")
    write_meta(folder, "mapping", "UNet <b>bold</b>", authors=["Ada L.", "B. Q."], links=["https://example.org/paper"],
          description="Trained | on *everything*")
    results = tmp_path / "board"
    assert _lb("submit", folder, "--archive", board_archive, "--results", results) == 0
    assert _lb("show", "--results", results, "--out", tmp_path / "site", "--no-paper") == 0
    row = next(csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text())))
    assert (row["authors"], row["links"], row["description"]) == ("Ada L.; B. Q.", "https://example.org/paper", "Trained | on *everything*")
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "Ada L., B. Q." in md and "https://example.org/paper" in md and "<b>" not in md and "\\|" in md
    page = (tmp_path / "site" / "index.html").read_text()
    assert '<a href="https://example.org/paper" rel="nofollow noopener noreferrer">' in page and "UNet &lt;b&gt;bold" in page
    assert "Ada L., B. Q." in page and "Trained | on *everything*" in page
    # an entry file edited after submit: a javascript: link is refused as submit refuses it, never a link
    entry_file = next(results.glob("entries/*/*.json"))
    entry = json.loads(entry_file.read_text())
    entry_file.write_text(json.dumps({**entry, "links": ["javascript:alert(1)"]}))
    assert _lb("show", "--results", results, "--out", tmp_path / "site2", "--no-paper") == 0
    board, rejected = (tmp_path / "site2" / "index.html").read_text().split('id="rejected-mapping"')
    assert "javascript:" not in board and 'href="javascript' not in rejected and "field &#x27;links&#x27;" in rejected


def test_push_needs_a_benchmark_dataset_and_writes_nothing_otherwise(board_archive, subs, tmp_path, hub, capsys):  # noqa: F811
    from huggingface_hub import HfApi

    _benchmark("name: x\ntasks:\n  - id: something-else\n", repo="user/other")
    results = tmp_path / "board"
    assert _lb("submit", subs / "map_good", "--archive", board_archive, "--results", results, "--push", "--dataset-repo", "user/other") == 2
    err = capsys.readouterr().err
    assert "dataset repo user/other: eval.yaml tasks: expected a task with id 'multitemporal-mapping', found ['something-else']" in err
    assert not results.exists()
    assert not HfApi().repo_exists("user/unet-good")
    HfApi().create_repo("user/plain", repo_type="dataset")
    assert _lb("submit", subs / "map_good", "--archive", board_archive, "--results", results, "--push", "--dataset-repo", "user/plain") == 2
    assert "eval.yaml: expected a benchmark declaration" in capsys.readouterr().err
    with pytest.raises(Exception, match="no leaderboard"):
        HfApi().get_dataset_leaderboard("user/plain")
    assert not results.exists()
    capsys.readouterr()
    assert _lb("submit", subs / "map_good", "--archive", board_archive, "--results", results, "--push", "--dataset-repo", "user/missing") == 2
    assert "dataset repo user/missing: the Hub refused: RepositoryNotFoundError" in capsys.readouterr().err
    assert _lb("show", "--results", results, "--dataset-repo", "user/plain", "--out", tmp_path / "site") == 2
    err = capsys.readouterr().err
    assert "dataset repo user/plain: leaderboard: the Hub refused" in err and "Traceback" not in err
    assert _lb("show", "--results", results, "--model-repo", "user/nobody", "--out", tmp_path / "site") == 2
    assert "model repo user/nobody: the Hub refused: RepositoryNotFoundError" in capsys.readouterr().err
    assert not results.exists() and not (tmp_path / "site").exists()




def test_tasks_agree_with_the_dataset_eval_yaml_and_push_against_it(board_archive, subs, tmp_path, hub):  # noqa: F811
    """The dataset export's ``eval.yaml`` (euromine_hf.hub.eval_spec, from another branch) declares
    the same task ids and ranking metric, and a push against it lands on the leaderboard."""
    import euromine_hf.hub.eval_spec as eval_spec
    from huggingface_hub import HfApi

    declared = {t["id"]: t for t in eval_spec.TASKS}
    for spec in lb.TASKS.values():
        assert spec.hub_task_id in declared
        assert declared[spec.hub_task_id]["primary_metric"] == spec.primary
        assert [m["name"] for m in declared[spec.hub_task_id]["metrics"]] == [c for c in spec.columns if not c.startswith("F1_2")]
    dataset = _benchmark(eval_spec.render_eval_yaml(synthetic=True))
    assert _lb("submit", subs / "cd_good", "--archive", board_archive, "--results", tmp_path / "b", "--push", "--dataset-repo", dataset) == 0
    assert [e.model_id for e in HfApi().get_dataset_leaderboard(dataset, base_model_only=False)] == ["user/bit-good"]


# ---- scores checked on read (issue 18, items 9 and 15) --------------------------------------------




def _entry(results: Path, model: str, scores: dict, **extra) -> None:
    path = results / "entries" / "mapping" / f"{model.encode().hex()[:40]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"format": lb.RESULT_FORMAT, "task": "mapping", "model": model, "scores": scores,
             "archive": {"synthetic": True, "name": "a"}, **extra}
    path.write_text(json.dumps(entry))  # json writes NaN as NaN, as a hand-edited entry may hold


@pytest.mark.filterwarnings("ignore::euromine_hf.data.archive.ArchiveWarning")
def test_show_checks_every_local_value_and_never_ranks_a_bad_row(board_archive, subs, tmp_path, capsys):  # noqa: F811
    results = tmp_path / "board"
    assert _lb("submit", subs / "map_good", "--archive", board_archive, "--results", results) == 0
    scored = json.loads(next(results.glob("entries/mapping/*.json")).read_text())
    _entry(results, "NaN model", {"OF1": float("nan")})
    _entry(results, "huge model", {"OF1": 1e308, "GCA-TIoU": 0.5})
    _entry(results, "over one", {"OF1": 0.9, "F1_2016": 1.5})
    _entry(results, "text score", {"OF1": "0.99"})
    _entry(results, "no OF1", {"GCA-TIoU": 0.9})
    _entry(results, "fine but hand-made", {"OF1": 0.1})
    _entry(results, "made-up column", {"OF1": 0.2, "made-up column": 7})
    _entry(results, "<script>alert(1)</script> [x](javascript:y) *b*", {"OF1": 0.05})
    capsys.readouterr()
    assert _lb("show", "--results", results, "--out", tmp_path / "site", "--task", "mapping") == 0
    out = capsys.readouterr().out
    assert "0" * 30 not in out, [line for line in out.splitlines() if "0" * 30 in line]

    rows = {r["model"]: r for r in csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text()))}
    ranked = sorted((r for r in rows.values() if r["rank"]), key=lambda r: int(r["rank"]))
    assert [r["model"] for r in ranked] == ["UNet good", "fine but hand-made", "<script>alert(1)</script> [x](javascript:y) *b*"]
    assert ranked[0]["verification"] == "scored here" and ranked[0]["sha256"] == scored["submission_sha256"]
    assert ranked[1]["verification"] == "self-reported" and ranked[1]["sha256"] == ""
    reasons = {
        "NaN model": "OF1: expected a finite value in [0, 1] (an F1/IoU score), found nan",
        "huge model": "OF1: expected a finite value in [0, 1] (an F1/IoU score), found 1e+308",
        "over one": "F1_2016: expected a finite value in [0, 1] (an F1/IoU score), found 1.5",
        "text score": "OF1: expected a number in [0, 1], found '0.99'",
        "no OF1": "OF1: expected the ranking score, found none",
    }
    made_up = rows["made-up column"]["problems"]  # a key no scorer writes: the entry is not ranked (its file named)
    assert rows["made-up column"]["rank"] == "" and made_up.startswith("entries/mapping/") and "found ['made-up column']" in made_up
    for model, reason in reasons.items():
        assert rows[model]["rank"] == "" and rows[model]["problems"] == reason, model
    assert rows["NaN model"]["OF1"] == rows["huge model"]["OF1"] == ""  # an unusable value is never printed as a score

    md = (tmp_path / "site" / "leaderboard.md").read_text()
    ranked_part, apart = md.split("### Not ranked")
    assert all(model not in ranked_part for model in reasons) and all(lb.md_cell(reason) in apart for reason in reasons.values())
    assert f"| 1 | UNet good | local | scored here (sha256 {scored['submission_sha256'][:16]}) |" in ranked_part
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt; \\[x\\](javascript:y) \\*b\\*" in md
    page = (tmp_path / "site" / "index.html").read_text()
    board, rejected = page.split('id="rejected-mapping"')
    assert all(f'data-model="{model}"' not in board for model in reasons) and "found 1e+308" in rejected
    assert "scored here (sha256" in board and page.count("<script>") == 1


def test_hub_and_card_values_are_checked_on_read(tmp_path, hub, capsys):
    from huggingface_hub import HfApi

    dataset = _benchmark()
    api = HfApi()

    def model_repo(repo: str, value: str, card_metrics: str = "") -> None:
        api.create_repo(repo)
        item = (f"- dataset:\n    id: {dataset}\n    task_id: multitemporal-mapping\n  value: {value}\n")
        api.upload_file(path_or_fileobj=item.encode(), path_in_repo=".eval_results/r.yaml", repo_id=repo)
        if card_metrics:
            card = ("---\nmodel-index:\n- name: m\n  results:\n  - task:\n      type: image-segmentation\n"
                    f"      name: multitemporal-mapping\n    dataset:\n      type: {dataset}\n      name: EuroMineNet\n"
                    f"    metrics:\n{card_metrics}---\n")
            api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo)

    model_repo("user/huge", "1.0e+300")
    model_repo("user/fine", "0.7", "    - type: OF1\n      value: 0.7\n    - type: GCA-TIoU\n      value: 0.6\n")
    model_repo("user/card-lies", "0.8", "    - type: OF1\n      value: 0.8\n    - type: F1_2016\n      value: 42\n")
    assert _lb("show", "--results", tmp_path / "none", "--dataset-repo", dataset, "--out", tmp_path / "site",
               "--task", "mapping", "--no-paper") == 0
    out = capsys.readouterr().out
    assert "0" * 30 not in out
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text()))}
    assert rows["user/fine"]["rank"] == "1" and rows["user/fine"]["verification"] == "self-reported"
    assert rows["user/fine"]["GCA-TIoU"] == "0.6"
    assert rows["user/huge"]["rank"] == "" and rows["user/huge"]["problems"].startswith(".eval_results OF1: expected a finite value")
    assert "1e+300" in rows["user/huge"]["problems"] and rows["user/huge"]["verification"] == "self-reported"
    assert rows["user/card-lies"]["rank"] == "" and "model card F1_2016" in rows["user/card-lies"]["problems"]


def test_change_submission_straight_from_predict_pairs_all(board_archive, tmp_path, capsys):  # noqa: F811
    """`euromine predict DETECTOR ARCHIVE OUT --split test --pairs all` writes the 45 change maps per test
    site that a change-detection submission needs; with a submission.json it is accepted and scored."""
    from euromine_hf.models import build_model

    detector = build_model("fc-ef", "tiny")
    detector.save_pretrained(tmp_path / "fc-ef")
    out = tmp_path / "pred"
    assert main(["predict", str(tmp_path / "fc-ef"), str(board_archive), str(out), "--split", "test", "--pairs", "all"]) == 0
    test_sites, _ = split_sites(board_archive)
    for site in test_sites:
        assert sorted(p.name for p in (out / site.name).glob("Change*.tif")) == sorted(f"Change{a}_{b}.tif" for a, b in PAIRS)
    # the metadata on the command line: predict's folder is submitted as it is, nothing written into it
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    board = tmp_path / "board"
    assert _lb("submit", out, "--archive", board_archive, "--results", board, "--model", "FC-EF tiny", "--task", "change_detection") == 0
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    entry = json.loads(next(board.glob("entries/*/*.json")).read_text())
    assert set(entry["scores"]) >= {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1"} and entry["model"] == "FC-EF tiny"
    capsys.readouterr()
    assert _lb("submit", out, "--archive", board_archive, "--results", tmp_path / "b3", "--model", "x") == 2
    assert "--model: expected --task" in capsys.readouterr().err
    write_meta(out, "change_detection", "FC-EF tiny")  # two sources of metadata: refused
    assert _lb("submit", out, "--archive", board_archive, "--results", tmp_path / "b4", "--model", "x", "--task", "change_detection") == 2
    assert "expected no submission.json when --model gives the metadata" in capsys.readouterr().err
    # the default (no --pairs) is consecutive years + first:last: not a submission
    assert main(["predict", str(tmp_path / "fc-ef"), str(board_archive), str(tmp_path / "few"), "--split", "test"]) == 0
    assert _lb("submit", tmp_path / "few", "--archive", board_archive, "--results", tmp_path / "board2",
               "--model", "FC-EF few", "--task", "change_detection") == 2
    assert "missing" in capsys.readouterr().err
    assert not (tmp_path / "board2").exists() and not (tmp_path / "b3").exists() and not (tmp_path / "b4").exists()


def test_two_local_entries_naming_one_repo_are_both_ranked_and_ties_share_a_rank():
    """Two submissions claiming the same model_repo are two rows (neither hides the other); that repo's
    card is not merged into either. Equal primary values share a rank."""
    entry = {"task": "mapping", "model_repo": "u/same", "archive": {"synthetic": True, "name": "x"}}
    rows = lb.rank_rows(lb.dedupe_rows(
        lb.rows_from_entries([{**entry, "model": "v1", "scores": {"OF1": 0.22}}, {**entry, "model": "v2", "scores": {"OF1": 1.0}}])
        + [lb.make_row("mapping", "card", "model card", {"OF1": 0.5}, model_repo="u/same"),
           lb.make_row("mapping", "tie", "model card", {"OF1": 0.5}, model_repo="u/tie")]
    ))
    assert [(r["model"], r["rank"], r["source"]) for r in rows] == [
        ("v2", 1, "local"), ("card", 2, "model card"), ("tie", 2, "model card"), ("v1", 4, "local")]


def test_model_card_rows_are_test_split_results_and_a_card_without_any_is_named(tmp_path, hub, capsys):
    """A model-index result on another split is never ranked; a card with no usable result is an error
    naming the repo, not a silent empty answer; without --dataset-repo the row says which dataset."""
    from huggingface_hub import HfApi

    def card(repo, split, dataset="user/euromine"):
        HfApi().create_repo(repo)
        text = ("---\nmodel-index:\n- name: M\n  results:\n  - task: {type: image-segmentation, name: multitemporal-mapping}\n"
                f"    dataset: {{type: {dataset}, name: EuroMineNet (synthetic stand-in), split: {split}}}\n"
                "    metrics:\n    - {type: OF1, value: 0.999}\n---\n")
        HfApi().upload_file(path_or_fileobj=text.encode(), path_in_repo="README.md", repo_id=repo)

    card("user/val-split", "validation")
    card("user/other-data", "test", dataset="someone/elsewhere")
    assert _lb("show", "--model-repo", "user/val-split", "--no-paper", "--out", tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert "model repo user/val-split: README.md model-index: expected results with task name" in err and "test split" in err
    rows = lb.rows_from_model_cards(["user/other-data"])
    assert [(r["model"], r["data"], r["scores"]["OF1"]) for r in rows] == [("M", "model-index: someone/elsewhere", 0.999)]
    with pytest.raises(ValueError, match="on the test split of user/euromine, found none"):
        lb.rows_from_model_cards(["user/other-data"], "user/euromine")


@pytest.mark.parametrize("where", ["submission", "inside_submission", "archive", "archive_site", "parent_of_archive"])
def test_submit_never_writes_its_entry_into_a_folder_it_reads(board_archive, subs, tmp_path, capsys, where):  # noqa: F811
    sub = copy_sub(subs, "map_good", tmp_path / "sub")
    archive = tmp_path / "data" / "archive"
    archive.parent.mkdir()
    import shutil

    shutil.copytree(board_archive, archive)
    results = {"submission": sub, "inside_submission": sub / "board", "archive": archive,
               "archive_site": next(p for p in archive.iterdir() if p.is_dir()), "parent_of_archive": archive.parent}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert _lb("submit", sub, "--archive", archive, "--results", results) == 2
    err = capsys.readouterr().err
    assert f"--results {results}: expected a folder apart from" in err and "Traceback" not in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_submit_checks_model_repo_given_on_the_command_line(board_archive, subs, tmp_path, capsys):  # noqa: F811
    """--model-repo beside a submission.json went into the entry unchecked."""
    assert _lb("submit", subs / "map_good", "--archive", board_archive, "--results", tmp_path / "r", "--model-repo", "javascript:alert(1)//x") == 2
    assert "--model-repo: expected a Hub model id NAMESPACE/NAME, found 'javascript:alert(1)//x'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_one_set_of_predictions_scored_two_ways_is_never_ranked():
    """A copied entry whose scores were edited keeps the sha256 of predictions another entry scored:
    both are set apart, since which one was edited cannot be told; equal scores stay ranked."""
    sha = "ab" * 32
    entry = {"task": "mapping", "archive": {"synthetic": True, "name": "x"}, "submission_sha256": sha}
    rows = lb.rank_rows(lb.dedupe_rows(lb.rows_from_entries([
        {**entry, "model": "real", "scores": {"OF1": 0.39}}, {**entry, "model": "FAKE", "scores": {"OF1": 0.99}}])))
    assert all(r["rank"] is None and "scored differently by 2 entries" in r["problems"][-1] for r in rows)
    same = lb.rank_rows(lb.rows_from_entries([{**entry, "model": "a", "scores": {"OF1": 0.39}},
                                              {**entry, "model": "b", "scores": {"OF1": 0.39}}]))
    assert [r["rank"] for r in same] == [1, 1]
