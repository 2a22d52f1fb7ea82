"""The one entry point shared by ``train.py``, ``euromine train`` and ``accelerate launch train.py``."""

from __future__ import annotations

import logging
import sys
from typing import Sequence

logger = logging.getLogger("euromine_hf.train")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments (demo preset when none are given), train, test, report; returns an exit code."""
    import transformers

    from euromine_hf.training.arguments import parse_arguments
    from euromine_hf.training.demo import beats_baseline, demo_argv, is_demo_invocation
    from euromine_hf.training.run import format_comparison, run_training

    argv = list(sys.argv[1:] if argv is None else argv)
    demo = is_demo_invocation(argv)
    if demo:
        argv = demo_argv(argv)
    model_args, data_args, training_args, run_args = parse_arguments(argv)

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    # Our own progress is logged at INFO; transformers' per-step chatter stays at WARNING.
    transformers.utils.logging.set_verbosity_warning()
    if demo:
        logger.info("demo: %s", " ".join(argv))

    try:
        result = run_training(model_args, data_args, training_args, run_args)
    except BaseException:
        _close_process_group(wait_for_peers=False)  # a barrier could hang when only this rank failed
        raise
    _close_process_group(wait_for_peers=True)
    if training_args.process_index != 0:
        return 0
    if model_args.task == "change_detection":
        from euromine_hf.training.change_detection import print_change_summary

        print_change_summary(result, model_args)
        return 0
    print(f"\nTest split (site-level scores), {result.seconds:.0f} s in all:")
    print(format_comparison(result, f"{model_args.model} ({model_args.size})"))
    print(f"\nOutputs under {result.output_dir}: model/ (safetensors + card), results/, qualitative/, statistics/")
    if run_args.baseline and result.baseline_metrics is not None:
        verdict = beats_baseline(result.test_metrics, result.baseline_metrics)
        print("The model beats the threshold baseline on OF1 and GCA-TIoU." if verdict else
              "WARNING: the model does NOT beat the threshold baseline on both OF1 and GCA-TIoU.")
    if demo:  # the second task: a small detector beside the post-classification change of this segmenter
        from euromine_hf.training.demo import run_change_detection_demo

        run_change_detection_demo(training_args.output_dir, result)
    return 0


def _close_process_group(wait_for_peers: bool) -> None:
    """Tear down a DDP process group ourselves: left to interpreter exit, gloo can abort a rank."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
