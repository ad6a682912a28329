"""Evaluate a population block by block: in this process, or on Ray workers, with equal results.

An evolution strategy scores many candidates per generation. ``map_blocks(fn, shared, blocks)`` runs
``fn(shared, block)`` for every block and returns the results in order. With ``workers=0`` it loops
here; with ``workers=N`` it starts a local Ray cluster of N one-CPU workers (or joins the cluster at
``address``) and sends each block as one task, ``shared`` (model weights, say) stored once in Ray's
object store. Every block runs with one torch thread either way, so the arithmetic, and therefore
every fitness value, is the same bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

from dreamlab.errors import DreamlabError

__all__ = ["map_blocks", "shutdown_workers"]

S = TypeVar("S")
B = TypeVar("B")
R = TypeVar("R")

_started_here = False


def _one_thread(fn: Callable[[S, B], R], shared: S, block: B) -> R:
    """Run one block with one torch thread (what a one-CPU Ray worker has), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(shared, block)
    finally:
        torch.set_num_threads(before)


def _ray(workers: int, address: str) -> Any:
    """Ray, initialised once per process: a local cluster of ``workers`` CPUs or the one at address."""
    global _started_here
    try:
        import ray
    except ModuleNotFoundError:
        raise DreamlabError(
            'parallel population evaluation needs ray; install it with: pip install "dreamlab[ray]"'
        ) from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            _started_here = True
    return ray


def map_blocks(
    fn: Callable[[S, B], R],
    shared: S,
    blocks: Sequence[B],
    workers: int = 0,
    address: str = "",
) -> list[R]:
    """``[fn(shared, block) for block in blocks]``, here (workers 0, no address) or on Ray.

    ``fn`` must be a module-level function (Ray ships it by reference).
    """
    if workers < 0:
        raise DreamlabError(f"workers must be >= 0, got {workers}")
    if workers == 0 and not address:
        return [_one_thread(fn, shared, block) for block in blocks]
    ray = _ray(workers, address)
    remote = ray.remote(num_cpus=1)(_one_thread)
    shared_ref = ray.put(shared)
    results: list[R] = ray.get([remote.remote(fn, shared_ref, block) for block in blocks])
    return results


def shutdown_workers() -> None:
    """Stop the local Ray cluster ``map_blocks`` started (a joined cluster is left running)."""
    global _started_here
    if _started_here:
        import ray

        ray.shutdown()
        _started_here = False
