"""How fast a simulator model imagines: candidate-steps per second, batched backend against the loop."""

from __future__ import annotations

import time
from dataclasses import dataclass

from torch import Tensor

from dreamlab.protocols import WorldModel
from dreamlab.rollout import rollout
from dreamlab.types import State

__all__ = ["Throughput", "steps_per_second", "throughput"]


@dataclass(frozen=True)
class Throughput:
    """Simulated candidate-steps per second of two models on the same states and actions."""

    batch_size: int
    horizon: int
    batched_per_second: float
    loop_per_second: float

    @property
    def ratio(self) -> float:
        """How many times faster the batched model is."""
        return self.batched_per_second / self.loop_per_second


def steps_per_second(
    model: WorldModel, state: State, actions: Tensor, min_seconds: float = 0.2
) -> float:
    """Candidate-steps per second of ``rollout(model, state, actions)``, repeated for min_seconds.

    ``actions`` are [B, H] or [B, H, A]; the rate counts B * H steps per rollout.
    """
    b, h = state.batch_size, int(actions.shape[1])
    rollout(model, state, actions[:, :1])  # warm-up: thread pools and buffers are made here
    runs, start = 0, time.perf_counter()
    while True:
        rollout(model, state, actions)
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return b * h * runs / elapsed


def throughput(
    batched: WorldModel, loop: WorldModel, state: State, actions: Tensor, min_seconds: float = 0.2
) -> Throughput:
    """Time both models on the same start states [B] and action sequences [B, H(, A)], in this run."""
    return Throughput(
        batch_size=state.batch_size,
        horizon=int(actions.shape[1]),
        batched_per_second=steps_per_second(batched, state, actions, min_seconds),
        loop_per_second=steps_per_second(loop, state, actions, min_seconds),
    )
