"""``ScorerBase.sync`` gathers the counts of every torch.distributed process (2-process gloo)."""

from __future__ import annotations

import numpy as np
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow


def _data():
    rng = np.random.default_rng(5)
    G = (rng.random((4, 10, 12, 12)) < 0.4).astype(np.uint8)
    P = (rng.random((4, 10, 12, 12)) < 0.4).astype(np.uint8)
    return P, G


def _worker(rank: int, init: str, out: str) -> None:
    from euromine_hf.metrics.mapping import MappingScorer

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    P, G = _data()
    s = MappingScorer()
    for n in range(4):
        for t in range(10):
            if (n + t) % 2 == rank:  # years of one patch split across the two processes
                s.add(P[n, t][None], G[n, t][None], sites=[f"s{n % 2}"], patches=[n], years=[2015 + t])
    s.sync()
    np.save(f"{out}/{rank}.npy", np.asarray(sorted(s.compute().items()), dtype=object), allow_pickle=True)
    dist.destroy_process_group()


def test_sync_merges_counts_across_processes(tmp_path):
    from euromine_hf.metrics.mapping import MappingScorer

    mp.spawn(_worker, args=(f"file://{tmp_path}/rendezvous", str(tmp_path)), nprocs=2, join=True)
    P, G = _data()
    whole = MappingScorer()
    whole.add(P, G, sites=[f"s{n % 2}" for n in range(4)], patches=np.arange(4), years=list(range(2015, 2025)))
    want = dict(whole.compute())
    for rank in range(2):
        got = dict(np.load(tmp_path / f"{rank}.npy", allow_pickle=True).tolist())
        assert got == pytest.approx(want)
