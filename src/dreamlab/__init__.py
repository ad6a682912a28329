"""dreamlab: world models of every paradigm behind one contract, trainable on a laptop CPU.

The flat public API: the contract (State, StepOut, Batch, Trajectory, WorldModel, Encoder, Agent,
rollout), environments (make_env) and the error every user-facing problem raises.
"""

from __future__ import annotations

from dreamlab.envs import make_env
from dreamlab.errors import DreamlabError
from dreamlab.protocols import Agent, Encoder, WorldModel
from dreamlab.rollout import rollout
from dreamlab.types import Batch, State, StepOut, Trajectory

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Batch",
    "DreamlabError",
    "Encoder",
    "State",
    "StepOut",
    "Trajectory",
    "WorldModel",
    "__version__",
    "make_env",
    "rollout",
]
