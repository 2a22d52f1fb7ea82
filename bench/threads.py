"""How the demo's training step degrades when the machine is shared, per OpenMP wait policy and thread count.

    python bench/threads.py                        # load 0, 1, 2 busy processes × policies × threads
    python bench/threads.py --loads 0,2 --steps 40 --repeats 3

Each measurement is a real ``python -m euromine_hf.training.main`` run of the demo's segmenter preset
(``training.demo.DEMO_ARGV``: tiny Segformer, batch 8) cut to ``--steps`` optimizer steps with no
evaluation, saving, baseline or figures; the figure is the Trainer's own ``train_runtime`` per step
(``results/all_results.json``), so start-up and data building are not in it. "Load" is that many
other processes each running single-threaded float32 matrix products for the whole measurement:
what other engineers' test runs or trainings do to a shared CI or laptop core. Conditions are
interleaved within each repeat, so a drift of the machine's own load hits all of them alike.

Why it matters: libgomp's default wait policy spins at every barrier of a parallel region; with
two intra-op threads and a core taken by someone else, each of the step's hundreds of regions waits
for a descheduled thread, and the step slows by an order of magnitude. ``OMP_WAIT_POLICY=PASSIVE``
sleeps instead; ``train.py`` / ``euromine`` set it when the machine is busy as they start
(``euromine_hf/threads.py``), because on an idle machine it is slower.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_BUSY = (
    "import os; os.environ['OMP_NUM_THREADS']='1'\n"
    "import numpy as np\n"
    "a = np.random.rand(384, 384).astype(np.float32)\n"
    "while True: a = (a @ a) / 384.0 + 0.5\n"
)


def measure(policy: str, threads: int, steps: int, archive: Path, work: Path) -> float:
    """Seconds per optimizer step of one training run under ``policy`` (``default`` = libgomp's own)."""
    from euromine_hf.training.demo import DEMO_ARGV

    out = Path(tempfile.mkdtemp(dir=work))
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env["OMP_NUM_THREADS"] = str(threads)
    # "default": libgomp's own (spin a while, then sleep); an empty value keeps train.py from choosing PASSIVE
    # on a busy machine (it only fills an unset variable) and libgomp ignores it
    env["OMP_WAIT_POLICY"] = "" if policy == "default" else policy
    env["PYTHONPATH"] = str(REPO)
    argv = [*DEMO_ARGV, "--output_dir", str(out), "--data_dir", str(archive), "--max_steps", str(steps),
            "--eval_strategy", "no", "--save_strategy", "no", "--baseline", "False", "--num_qualitative", "0",
            "--logging_steps", str(steps)]
    subprocess.run([sys.executable, "-m", "euromine_hf.training.main", *argv], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    train = json.loads((out / "results" / "all_results.json").read_text())["train"]
    return float(train["train_runtime"]) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", default="0,1,2", help="numbers of busy processes beside the training")
    parser.add_argument("--policies", default="default,PASSIVE", help="OMP_WAIT_POLICY values ('default' = libgomp's own)")
    parser.add_argument("--threads", default="1,2", help="OMP_NUM_THREADS values")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    loads = [int(v) for v in args.loads.split(",")]
    policies = args.policies.split(",")
    threads = [int(v) for v in args.threads.split(",")]

    from euromine_hf.data.synthetic import default_archive

    archive = Path(default_archive())
    results: dict[tuple[int, str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.repeats):
            for load in loads:
                busy = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(load)]
                try:
                    time.sleep(1.0 if load else 0.0)
                    for policy, n in itertools.product(policies, threads):
                        results.setdefault((load, policy, n), []).append(measure(policy, n, args.steps, archive, Path(work)))
                finally:
                    for p in busy:
                        p.kill()
                        p.wait()
    print(f"demo segmenter step (tiny Segformer, batch 8), {args.steps} steps per run, {args.repeats} repeats, "
          f"{os.cpu_count()} CPUs; ms per step, median (min-max)")
    print("| busy processes | OMP_WAIT_POLICY | threads | ms/step | vs same policy+threads unloaded |")
    print("|---|---|---|---|---|")
    for (load, policy, n), values in sorted(results.items()):
        base = statistics.median(results.get((0, policy, n), values))
        med = statistics.median(values)
        print(f"| {load} | {policy} | {n} | {1000 * med:.0f} ({1000 * min(values):.0f}-{1000 * max(values):.0f}) | "
              f"{med / base:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
