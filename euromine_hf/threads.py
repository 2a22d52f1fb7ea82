"""CPU threads of the training and prediction processes: no spinning on a busy machine, a fixed count for the demo.

Measured with ``bench/threads.py`` (BENCHMARKS.md, "Threads"; tiny Segformer demo step, 2-CPU VM):

* torch's CPU kernels run on libgomp, whose default wait policy spins at the end of every parallel
  region. With two intra-op threads and another process holding a core, each of a step's hundreds
  of regions waits for a descheduled thread: one busy process made the step 3.1x slower, a loaded
  shared machine up to ~10x. ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep) cut that to 1.5x,
  but on an idle machine it costs ~30 % (65 vs 50 ms). So training and predict choose it only when
  the machine is busy as they start (:func:`sleep_while_waiting_if_busy`: other processes keep busy,
  in a 0.25 s sample of ``/proc/stat``, a core that torch's threads need). libgomp reads the
  variable once, when torch is imported; a value the user set is kept. The policy changes timing
  only, never results.
* A float sum split over a different number of threads rounds differently, so a training run's
  figures depend on the thread count. The demo fixes its count (:data:`DEMO_THREADS`) so that its
  printed figures are the same whatever ``OMP_NUM_THREADS`` or the machine's core count says, on
  CPUs of one family (another instruction set can take other kernels). Two, not one: one thread does
  not slow down beside a busy process (61 vs 60 ms) but is ~20 % slower than two on an idle machine.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["DEMO_THREADS", "busy_cpus", "machine_is_busy", "sleep_while_waiting_if_busy", "use_threads"]

#: Intra-op threads of the demo's trainings (README's figures were measured with this count).
DEMO_THREADS = 2


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from ``/proc/stat`` (Linux); None where it cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [float(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return total - idle, total


def busy_cpus(window: float = 0.25) -> float | None:
    """How many CPUs other processes keep busy now: sampled over ``window`` seconds while this process
    sleeps (the 1-minute load average lags: it still counts a job that ended a minute ago)."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(window)
    second = _cpu_times()
    if second is None or second[1] <= first[1]:
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cpus * (second[0] - first[0]) / (second[1] - first[1])


def machine_is_busy(threads: int | None = None, busy: float | None = None) -> bool:
    """True when other processes keep at least half of one of the cores busy that ``threads`` (default:
    ``OMP_NUM_THREADS``, else every CPU, as torch would run) need; ``busy`` is :func:`busy_cpus`."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads is None:
        try:
            threads = int(os.environ.get("OMP_NUM_THREADS", "") or cpus)
        except ValueError:
            threads = cpus
    if threads <= 1:
        return False
    busy = busy_cpus() if busy is None else busy
    return busy is not None and busy >= cpus - threads + 0.5


def sleep_while_waiting_if_busy() -> bool:
    """On a busy machine, ask libgomp to sleep rather than spin while waiting (``OMP_WAIT_POLICY=PASSIVE``)
    in this process and its children, unless the variable is set already. True when it was set here
    (logged by the caller); it only takes effect if torch has not been imported yet."""
    if "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules or not machine_is_busy():
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def use_threads(count: int) -> int:
    """Run torch's intra-op kernels on ``count`` threads; returns the previous count."""
    import torch

    previous = torch.get_num_threads()
    if count != previous:
        torch.set_num_threads(count)
    return previous
