"""A validated submission scored by the same code as ``euromine evaluate`` (site protocol)."""

from __future__ import annotations

from euromine_hf.hub.leaderboard.submission import Submission


def score_submission(submission: Submission, split_scheme: str = "auto", seed: int = 0) -> dict[str, float]:
    """Scores of a validated submission: the ``euromine evaluate`` scorer at the site protocol."""
    import warnings

    from euromine_hf.data.archive import ArchiveWarning
    from euromine_hf.metrics.evaluate_cli import evaluate_folder

    with warnings.catch_warnings():
        # submission.json at the root is the one file evaluate's reader does not know
        warnings.simplefilter("ignore", ArchiveWarning)
        scorer = evaluate_folder(submission.archive, submission.root, split="test", task=submission.task.evaluate_task,
                                 split_scheme=split_scheme, seed=seed)
    return {k: float(v) for k, v in scorer.compute(protocol="site", empty="skip").items()}
