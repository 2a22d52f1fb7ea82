"""The EuroMineNet benchmark leaderboard: validate a submission, score it, rank it, publish it.

A submission is a prediction folder for the **test split** in the layouts ``euromine evaluate``
reads, plus a ``submission.json`` (format: ``resources/leaderboard_submission.md``). Nobody's
submission is trusted, so :func:`validate_submission` looks at names, counts, sizes and headers
of every file before reading a single pixel, never unpickles, follows no symlink, and collects
*every* problem it finds into one :class:`SubmissionError` (a submitter fixes them in one go).
Only a clean folder is scored, by the same code as ``euromine evaluate`` (site protocol), and
only then is anything written: a result entry (JSON) in the local leaderboard folder and, with
``push``, the Hub's ``.eval_results/*.yaml`` plus the card's ``model-index`` in the model repo,
which puts the model on the benchmark dataset's leaderboard (``HfApi.get_dataset_leaderboard``).

:func:`collect_rows` gathers rows from local entries, model cards and the Hub's dataset
leaderboard, adds the paper's Tables 4–6 as marked reference rows, and :func:`write_outputs`
renders Markdown, CSV and a self-contained HTML page with sortable columns.

No score is trusted on read either: a card, an ``.eval_results`` file or a local entry may hold any
number, so every value of the task's columns must be a finite fraction in [0, 1] (all are F1 or
IoU scores, :func:`check_scores`); a row that fails is shown apart with the reason and never
ranked. Each row says how far it can be believed: **scored here** (a local entry written by
``submit``, which scored the predictions itself, with their content hash) or **self-reported**.

Public API (import from this package, not from its modules; the names below are stable):

- tasks: :class:`TaskSpec`, ``TASKS``, ``HUB_TASK_IDS``, :func:`task_spec`;
- a submission: ``SUBMISSION_FILE``, :func:`validate_submission` → :class:`Submission` (or
  :class:`SubmissionError`), :func:`score_submission`;
- local entries: :func:`make_result_entry` (a :class:`Submission` and its scores → the entry
  dict, ``RESULT_FORMAT``), :func:`write_result_entry` (atomic, one file per task and model name,
  at :func:`entry_path`), :func:`load_local_entries` (checked again when shown; ``EntryWarning``). A program that adds its own runs (a
  benchmark runner) writes its test predictions as a submission folder, then
  ``write_result_entry(results_dir, make_result_entry(validate_submission(folder, archive, meta=...),
  score_submission(...)))``: the entry is then *scored here*, with the predictions' sha256;
- the Hub: :func:`push_result`, :func:`rows_from_model_cards`, :func:`rows_from_hub`;
- rows and ranking: :func:`check_scores`, :func:`make_row`, :func:`rows_from_entries`,
  :func:`paper_rows`, :func:`dedupe_rows`, :func:`rank_rows`, :func:`collect_rows`, ``SCORED_HERE``,
  ``SELF_REPORTED``, ``PAPER_SOURCE``;
- rendering: :func:`to_markdown`, :func:`to_csv`, :func:`to_html`, :func:`write_outputs` (into a folder
  checked first by :func:`check_destination`; ``SHOW_MARKER`` lists the files it wrote there).

One concern per module: ``tasks``, ``text`` (rules for submitted text), ``submission``
(``submission.json``, :class:`Submission`, :class:`SubmissionError`), ``listing`` (the bounded
folder walk), ``headers`` (one file from its header), ``validation``, ``scoring``, ``entries``, ``entry_checks``
(an entry read back, checked again),
``hub_refusal``, ``publish``, ``values`` (scores read back), ``rows``, ``hub_rows``, ``ranking``,
``cells`` (texts shared by the renderers), ``render_markdown``, ``render_csv``, ``render_html``,
``outputs``. No module imports this package, so there is no import circle
(``tests/test_leaderboard_package.py``).
"""

from __future__ import annotations

from euromine_hf.hub.leaderboard.entries import RESULT_FORMAT, EntryWarning, entry_path, load_local_entries, make_result_entry, write_result_entry
from euromine_hf.hub.leaderboard.headers import MAX_PATCH_NPY_BYTES, MAX_PATCH_PNG_BYTES, TIF_SLACK_BYTES
from euromine_hf.hub.leaderboard.hub_rows import rows_from_hub, rows_from_model_cards
from euromine_hf.hub.leaderboard.outputs import SHOW_MARKER, check_destination, write_outputs
from euromine_hf.hub.leaderboard.publish import push_result
from euromine_hf.hub.leaderboard.ranking import collect_rows, dedupe_rows, rank_rows
from euromine_hf.hub.leaderboard.render_csv import to_csv
from euromine_hf.hub.leaderboard.render_html import SORT_JS, to_html
from euromine_hf.hub.leaderboard.render_markdown import md_cell, to_markdown
from euromine_hf.hub.leaderboard.rows import PAPER_SOURCE, SCORED_HERE, SELF_REPORTED, make_row, paper_rows, rows_from_entries
from euromine_hf.hub.leaderboard.scoring import score_submission
from euromine_hf.hub.leaderboard.submission import (
    MAX_LISTED_PROBLEMS,
    MAX_SUBMISSION_JSON_BYTES,
    SUBMISSION_FILE,
    Submission,
    SubmissionError,
)
from euromine_hf.hub.leaderboard.tasks import HUB_TASK_IDS, TASKS, TaskSpec, task_spec
from euromine_hf.hub.leaderboard.validation import MAX_SIDECAR_BYTES, validate_submission
from euromine_hf.hub.leaderboard.values import check_scores

__all__ = [
    "TaskSpec",
    "TASKS",
    "HUB_TASK_IDS",
    "task_spec",
    "SUBMISSION_FILE",
    "RESULT_FORMAT",
    "PAPER_SOURCE",
    "MAX_SUBMISSION_JSON_BYTES",
    "MAX_PATCH_NPY_BYTES",
    "MAX_PATCH_PNG_BYTES",
    "TIF_SLACK_BYTES",
    "MAX_SIDECAR_BYTES",
    "MAX_LISTED_PROBLEMS",
    "SubmissionError",
    "Submission",
    "validate_submission",
    "score_submission",
    "make_result_entry",
    "entry_path",
    "write_result_entry",
    "push_result",
    "load_local_entries",
    "EntryWarning",
    "make_row",
    "rows_from_entries",
    "rows_from_model_cards",
    "rows_from_hub",
    "paper_rows",
    "dedupe_rows",
    "collect_rows",
    "rank_rows",
    "check_scores",
    "SCORED_HERE",
    "SELF_REPORTED",
    "md_cell",
    "to_markdown",
    "to_csv",
    "SORT_JS",
    "to_html",
    "write_outputs",
    "check_destination",
    "SHOW_MARKER",
]
