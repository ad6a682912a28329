"""The simulator-based world model: a real simulator queried as a WorldModel, (s', o') = SIM(s, a).

``SimulatorModel.for_env(name, backend)`` simulates gymnasium's classic-control and MuJoCo envs and
dreamlab's mazes exactly (batched), and any env with a state adapter (loop).
"""

from __future__ import annotations

from dreamlab.sim.adapters import (
    BATCHED_SIMS,
    METHOD_ADAPTER,
    STATE_ADAPTERS,
    find_adapter,
    find_batched,
)
from dreamlab.sim.base import BatchedSim, StateAdapter
from dreamlab.sim.model import BACKENDS, Backend, SimulatorModel
from dreamlab.sim.throughput import Throughput, steps_per_second, throughput

__all__ = [
    "BACKENDS",
    "BATCHED_SIMS",
    "METHOD_ADAPTER",
    "STATE_ADAPTERS",
    "Backend",
    "BatchedSim",
    "SimulatorModel",
    "StateAdapter",
    "Throughput",
    "find_adapter",
    "find_batched",
    "steps_per_second",
    "throughput",
]
