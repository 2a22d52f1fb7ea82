"""CPU threads of the training and prediction processes: no spinning on a shared machine, a fixed count for the demo.

Two facts measured with ``bench/threads.py`` (BENCHMARKS.md, "Threads"):

* torch's CPU kernels run on libgomp, whose default wait policy spins at the end of every parallel
  region. When another process holds one of the two cores of a small machine, each of a training
  step's hundreds of regions waits for a descheduled thread and the step slows by up to an order of
  magnitude. ``OMP_WAIT_POLICY=PASSIVE`` makes waiting threads sleep. libgomp reads it once, when
  torch is imported, so the entry points call :func:`sleep_while_waiting` first; a value the user
  set is kept.
* A float sum split over a different number of threads rounds differently, so a training run's
  figures depend on the thread count. The demo fixes its count (:data:`DEMO_THREADS`) so that its
  printed figures are the same whatever ``OMP_NUM_THREADS`` or the machine's core count says, on
  CPUs of one family (another instruction set can take other kernels).
"""

from __future__ import annotations

import os

__all__ = ["DEMO_THREADS", "sleep_while_waiting", "use_threads"]

#: Intra-op threads of the demo's trainings (README's figures were measured with this count).
DEMO_THREADS = 2


def sleep_while_waiting() -> bool:
    """Ask libgomp to sleep rather than spin while waiting (``OMP_WAIT_POLICY=PASSIVE``) in this process
    and its children, unless the variable is set already. True when it was set here; it only takes
    effect if torch has not been imported yet."""
    if "OMP_WAIT_POLICY" in os.environ:
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
