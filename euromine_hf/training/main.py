"""The one entry point shared by ``train.py``, ``euromine train`` and ``accelerate launch train.py``."""

from __future__ import annotations

import logging
import os
import sys
from typing import Sequence

logger = logging.getLogger("euromine_hf.train")


def main(argv: Sequence[str] | None = None, prog: str = "train.py") -> int:
    """Parse arguments (demo preset when none are given), train, test, report; returns an exit code.

    An error in the user's input (bad option value, bad ``--data_dir``) prints one line naming
    what was wrong and returns 2; ``EUROMINE_DEBUG=1`` shows the traceback instead.
    """
    from euromine_hf.cli import run_guarded
    from euromine_hf.threads import sleep_while_waiting_if_busy

    words = list(sys.argv[1:] if argv is None else argv)
    if "-h" in words or "--help" in words or "--help-all" in words:
        return print_help(prog, full="--help-all" in words)
    passive = sleep_while_waiting_if_busy()  # before torch is imported: libgomp reads it once (euromine_hf/threads.py)
    return run_guarded(lambda: _main(argv, passive), prog)


def print_help(prog: str, full: bool = False) -> int:
    """``--help``: the grouped common options, without importing torch or transformers (answers at
    once); ``--help-all``: every option, transformers' TrainingArguments included."""
    from euromine_hf.training.arguments import make_parser, make_short_help_parser

    parser = make_parser() if full else make_short_help_parser(prog)
    parser.prog = prog
    parser.print_help()
    return 0


def _main(argv: Sequence[str] | None, passive_wait: bool = False) -> int:
    import transformers

    from euromine_hf.training.arguments import parse_arguments
    from euromine_hf.training.demo import demo_argv, is_demo_invocation
    from euromine_hf.training.run import run_training

    argv = list(sys.argv[1:] if argv is None else argv)
    cpu_ddp = use_cpu_ddp_without_accelerator()
    demo = is_demo_invocation(argv)
    if demo:
        argv = demo_argv(argv)
    model_args, data_args, training_args, run_args = parse_arguments(argv)  # the task's checks, before any data

    # Our own progress is logged at INFO by the main process only (under `accelerate launch` every
    # rank would repeat it); other ranks log warnings. transformers' per-step chatter stays at WARNING.
    main_process = training_args.process_index == 0
    level = logging.INFO if main_process else logging.WARNING
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    logging.getLogger("euromine_hf").setLevel(level)  # also where the root logger was set up before us
    transformers.utils.logging.set_verbosity_warning()
    if passive_wait:
        logger.info("other processes keep this machine's cores busy: OpenMP threads sleep while they wait "
                    "(OMP_WAIT_POLICY=PASSIVE; set OMP_WAIT_POLICY yourself to choose)")
    if demo:
        from euromine_hf.threads import DEMO_THREADS, use_threads

        use_threads(DEMO_THREADS)  # the demo's figures then do not depend on the machine's thread count
        logger.info("demo: %s (%d torch threads, fixed so its figures do not depend on the thread count)",
                    " ".join(argv), DEMO_THREADS)
    if cpu_ddp:
        logger.info("no GPU on this machine: the %s launched processes train as one CPU (gloo) DDP group",
                    os.environ.get("WORLD_SIZE"))
    if training_args.world_size > 1:
        logger.info("%d processes in one process group (%s)", training_args.world_size,
                    training_args.distributed_state.backend)

    from euromine_hf.io import writing

    try:
        with writing(training_args.output_dir):  # a library's write fault that names no file names the run's folder
            result = run_training(model_args, data_args, training_args, run_args)
    except BaseException:
        _close_process_group(wait_for_peers=False)  # a barrier could hang when only this rank failed
        raise
    _close_process_group(wait_for_peers=True)
    if training_args.process_index != 0:
        return 0
    print(result.summary)  # the task's: test scores beside the baseline or the paper's row, where outputs are
    if demo:  # the second task: a small detector beside the post-classification change of this segmenter
        if training_args.world_size > 1:
            # the process group is closed and the other ranks have returned: a second training here would
            # wait for peers that never come
            print("\nThe demo's change-detection part runs in a single process (python train.py); "
                  "skipped under a multi-process launch.")
            return 0
        from euromine_hf.training.demo import run_change_detection_demo

        run_change_detection_demo(training_args.output_dir, result, extra=_shared_demo_options(data_args, training_args))
    return 0


def _shared_demo_options(data_args: object, training_args: object) -> list[str]:
    """The options of a demo run that the detector part must share with the segmenter part: the same
    archive, cache, seed and sample limits (so post-classification and the detector score the same
    test split)."""
    extra = ["--seed", str(training_args.seed)]
    for name in ("data_dir", "cache_dir", "max_train_samples", "max_eval_samples", "max_test_samples"):
        value = getattr(data_args, name, None)
        if value is not None:
            extra += [f"--{name}", str(value)]
    return extra


def use_cpu_ddp_without_accelerator() -> bool:
    """Turn a multi-process launch on a machine without an accelerator into CPU (gloo) DDP.

    ``accelerate launch --config_file configs/ddp.yaml`` (``distributed_type: MULTI_GPU``) starts the
    processes with ``WORLD_SIZE`` set, but where no GPU exists accelerate falls back to "no
    distribution" in each process unless ``ACCELERATE_USE_CPU`` is set: N independent trainings
    writing to one folder.  Setting it here, before ``TrainingArguments`` sets up the devices, lets
    the README's command work as written on a CPU machine.  Returns True when it did so.
    """
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    accelerator = getattr(torch, "accelerator", None)
    has_accelerator = accelerator.is_available() if accelerator is not None else torch.cuda.is_available()
    if has_accelerator or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes"):
        return False
    os.environ["ACCELERATE_USE_CPU"] = "true"
    return True


def _close_process_group(wait_for_peers: bool) -> None:
    """Tear down a DDP process group ourselves: left to interpreter exit, gloo can abort a rank."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
