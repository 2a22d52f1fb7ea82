"""``euromine benchmark``: train and test every (task, model, seed) of the paper's protocol, then write
Tables 4-6 (mean ± std over seeds beside the paper's rows), the figures and leaderboard entries."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """Reproduce the EuroMineNet paper's Tables 4-6: one training per (task, model, seed) with the
model's paper recipe (train.py's defaults: Adam, lr 1e-4, batch 32 per device, cosine to 1e-7; --size paper
also starts from the paper run's pretrained checkpoints), each tested on the test split.

Runs live in OUTPUT/runs/<task>/<model>/seed<k>/ (run.json, train.log, checkpoints, result.json written
last). A rerun skips finished runs, resumes interrupted ones from their last checkpoint and retries
failed ones; a failed run does not stop the others (exit status 1 at the end). Results:
OUTPUT/table4|5|6.{md,csv,json}, OUTPUT/figure_*.png, and one leaderboard entry per run
(euromine leaderboard show --results OUTPUT/leaderboard).

Examples:
  euromine benchmark --task all --models segformer,unet,fc-ef,bit --size tiny --seeds 0,1 --max_steps 20 \\
      --data_dir outputs/archive --output_dir runs/benchmark                     # CPU, minutes
  euromine benchmark --task all --models all --seeds 0,1,2 --size paper --data_dir /data/EuroMineNet \\
      --output_dir runs/benchmark --launcher slurm --slurm_partition gpu --slurm_gpus_per_node 8 \\
      --slurm_time 24:00:00 --accelerate_config configs/fsdp.yaml               # the paper's set-up
  euromine benchmark --task all --models unet,fc-ef,utae-series --size tiny --seeds 0 --max_steps 20
      # a series model (beyond the paper) beside them: its rows land in Tables 4, 5 and 6
Extra train.py options for every run follow `--`, e.g. `-- --per_device_train_batch_size 8 --cache_dir c`."""


def add_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    from euromine_hf.options import POSITIVE

    parser = subparsers.add_parser(name, help=summary, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=("mapping", "change_detection", "multitemporal", "all"), default="all",
                        help="which tables: mapping (Tables 4, 6), change_detection (Table 5), multitemporal "
                             "(series models, beyond the paper: Tables 4-6) or all (default: the paper's two tasks, "
                             "plus any series model named in --models)")
    parser.add_argument("--models", default="all", help="'all' (every zoo model of the tasks) or NAME,NAME,... (default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, one run each (default: 0,1,2)")
    parser.add_argument("--data_dir", default=None,
                        help="EuroMineNet archive (default: the embedded synthetic archive, generated on first use)")
    parser.add_argument("--output_dir", default="runs/benchmark", help="where runs, tables and figures go (default: runs/benchmark)")
    parser.add_argument("--size", choices=("paper", "tiny"), default="paper",
                        help="model preset: paper (the benchmarked models and recipe) or tiny (CPU tests); default paper")
    parser.add_argument("--max_steps", type=POSITIVE, default=None, help="stop each training after N steps (default: train.py's epochs)")
    parser.add_argument("--launcher", choices=("local", "accelerate", "slurm"), default="local",
                        help="local: one run after the other here; accelerate: each run through accelerate launch; "
                             "slurm: a submitit job array (default: local)")
    parser.add_argument("--accelerate_config", default=None,
                        help="accelerate config for --launcher accelerate (or inside each slurm job), e.g. configs/fsdp.yaml")
    parser.add_argument("--num_processes", type=POSITIVE, default=None, help="accelerate processes per run (default: the config's)")
    slurm = parser.add_argument_group("Slurm (--launcher slurm, through submitit)")
    slurm.add_argument("--slurm_partition", default=None, help="partition to submit to")
    slurm.add_argument("--slurm_gpus_per_node", type=POSITIVE, default=None, help="GPUs per run (job)")
    slurm.add_argument("--slurm_cpus_per_task", type=POSITIVE, default=None, help="CPU cores per run")
    slurm.add_argument("--slurm_time", default=None, help="time limit per run: minutes, HH:MM:SS or D-HH:MM:SS")
    slurm.add_argument("--slurm_mem", default=None, help="memory per node, as sbatch --mem takes it (e.g. 64G)")
    slurm.add_argument("--slurm_array_parallelism", type=POSITIVE, default=None, help="runs of the array at once")
    slurm.add_argument("--slurm_account", default=None, help="account to charge")
    slurm.add_argument("--slurm_qos", default=None, help="quality of service")
    slurm.add_argument("--slurm_constraint", default=None, help="node features (sbatch --constraint)")
    slurm.add_argument("--slurm_cluster", default="slurm", choices=("slurm", "local"),
                       help="submitit cluster: slurm, or local (the same jobs as local processes; what the tests use)")
    slurm.add_argument("--reattach", action="store_true",
                       help="submit nothing: wait for the jobs recorded in OUTPUT/slurm/jobs.json, then build the tables")
    parser.add_argument("train_options", nargs=argparse.REMAINDER,
                        help="after `--`: extra train.py options for every run")
    parser.set_defaults(func=run)
    return parser


def make_launcher(args: argparse.Namespace, output_dir: Any) -> Any:
    from pathlib import Path

    from euromine_hf.benchmark.launchers import AccelerateLauncher, LocalLauncher, SlurmLauncher, parse_slurm_time

    slurm_given = [k for k, v in vars(args).items() if k.startswith("slurm_") and k != "slurm_cluster" and v is not None]
    if args.launcher != "slurm" and (slurm_given or args.reattach):
        raise ValueError(f"--{(slurm_given or ['reattach'])[0]}: needs --launcher slurm")
    if args.launcher == "accelerate":
        if not args.accelerate_config:
            raise ValueError("--launcher accelerate: expected --accelerate_config FILE (e.g. configs/fsdp.yaml)")
        return AccelerateLauncher(args.accelerate_config, args.num_processes)
    if args.launcher == "slurm":
        if args.accelerate_config and not Path(args.accelerate_config).is_file():
            raise ValueError(f"--accelerate_config {args.accelerate_config}: expected an accelerate config file, found no such file")
        parameters = {
            "slurm_partition": args.slurm_partition, "gpus_per_node": args.slurm_gpus_per_node,
            "cpus_per_task": args.slurm_cpus_per_task, "slurm_mem": args.slurm_mem,
            "timeout_min": parse_slurm_time(args.slurm_time) if args.slurm_time else None,
            "slurm_array_parallelism": args.slurm_array_parallelism, "slurm_account": args.slurm_account,
            "slurm_qos": args.slurm_qos, "slurm_constraint": args.slurm_constraint,
        }
        return SlurmLauncher(Path(output_dir) / "slurm", parameters, cluster=args.slurm_cluster,
                             accelerate_config=args.accelerate_config, num_processes=args.num_processes,
                             reattach=args.reattach)
    if args.accelerate_config or args.num_processes:
        raise ValueError("--accelerate_config/--num_processes: need --launcher accelerate or slurm")
    return LocalLauncher()


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from euromine_hf.benchmark.plan import parse_seeds, plan_runs, resolve_models
    from euromine_hf.benchmark.runner import run_benchmark

    extra = list(args.train_options)
    if extra and extra[0] == "--":
        extra = extra[1:]
    seeds = parse_seeds(args.seeds)
    models = resolve_models(args.task, args.models)
    output_dir = Path(args.output_dir).resolve()
    launcher = make_launcher(args, output_dir)
    if args.data_dir is None:
        from euromine_hf.data.synthetic import default_archive

        data_dir = Path(default_archive())
        print(f"no --data_dir: the embedded synthetic archive at {data_dir} (synthetic data, not EuroMineNet)")
    else:
        data_dir = Path(args.data_dir)
        if not data_dir.is_dir():
            raise FileNotFoundError(f"--data_dir {data_dir}: expected a EuroMineNet archive folder, found no such folder")
    specs = plan_runs(output_dir, models, seeds, data_dir, size=args.size, max_steps=args.max_steps, train_options=extra)
    if extra:  # train.py's own parser and checks, once per task, before any run is launched
        from euromine_hf.training.arguments import check_command_line

        for task in dict.fromkeys(s.task for s in specs):
            check_command_line(next(s for s in specs if s.task == task).argv(), "training option")
    print(f"euromine benchmark: {len(specs)} runs ({', '.join(f'{t}: {len(m)} models' for t, m in models.items())}, "
          f"seeds {', '.join(map(str, seeds))}, --size {args.size}) under {output_dir / 'runs'}, launcher {launcher.name}")
    return run_benchmark(specs, launcher, output_dir)
