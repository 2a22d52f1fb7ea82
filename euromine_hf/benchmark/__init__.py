"""``euromine benchmark``: the paper's whole protocol (Tables 4-6) in one command.

One run per (task, model, seed) under ``OUTPUT/runs/<task>/<model>/seed<k>/``, each trained by the
same entry point as ``train.py`` (:func:`euromine_hf.training.main.main`) and marked finished by a
``result.json`` its job writes last; the tables, plots and leaderboard entries are built from those
files, so a rerun, a reattach or a crashed runner all see the same truth.

| module | holds |
|---|---|
| ``plan.py`` | which runs a request means, their folders, ``train.py`` argv and ``run.json`` |
| ``jobs.py`` | the function one run executes (train, collect, leaderboard entry, ``result.json``) |
| ``launchers.py`` | local (one after the other), accelerate, slurm (submitit) |
| ``runner.py`` | plan → skip / resume / launch → tables, and the exit status |
| ``tables.py`` | Tables 4-6: mean ± std over seeds beside the paper's rows |
| ``plots.py`` | F1 against interval per detector; OF1 against GCA-TIoU per segmenter |
| ``cli.py`` | the ``euromine benchmark`` sub-command |
"""
