"""Settings of the action-conditioned JEPA world model; the presets are the ones the benchmarks use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PRESETS", "JEPAWMConfig"]


@dataclass(frozen=True)
class JEPAWMConfig:
    """Everything that shapes a JEPA world-model run (defaults: the ``tworooms`` preset)."""

    # data: random walks of generate_two_rooms, made once per run from data_seed
    trajectories: int = 3000
    """Random-walk trajectories to train on (each with its own wall when ``random_wall``)."""
    trajectory_length: int = 17
    """T, frames per trajectory (T - 1 actions)."""
    random_wall: bool = True
    """Sample the wall and door per trajectory and per evaluation episode (False: the fixed wall).
    The environment ``two-rooms-fixed`` forces the fixed wall."""
    obs_mode: Literal["2ch", "rgb"] = "2ch"
    """Frames as two channels (dot, walls) or as RGB; both come from the same renderer."""
    image_size: int = 32
    """Side of the encoder's input: the 65-pixel frame loses its last row and column (solid
    border) to make 64, then is average-pooled down to 32 (or 16); 64 keeps full resolution."""
    data_seed: int = 0
    """Seed of the random walks and walls."""
    # encoder: an Impala-style CNN to one flat embedding per frame
    channels: tuple[int, ...] = (16, 32, 32)
    """Channels of the stages; each stage is conv 3x3, max-pool 3x3 stride 2, residual blocks."""
    res_blocks: int = 2
    """Residual blocks per stage (Impala uses 2)."""
    embed_dim: int = 64
    """D, the embedding size: the state the predictor steps and the planner compares to the goal."""
    # predictor and inverse dynamics
    predictor: Literal["gru", "mlp"] = "gru"
    """Next embedding from [embedding, action]: a two-layer GRU whose hidden states start from the
    embedding, or a residual MLP."""
    predictor_hidden: int = 64
    """Hidden width of the predictor."""
    idm_hidden: int = 64
    """Hidden width of the inverse-dynamics head (a_t from e_t and e_{t+1})."""
    # loss: L = pred + var * L_var + cov * L_cov + time * L_time + idm * L_idm
    rollout_steps: int = 8
    """K: the prediction loss rolls the predictor K steps from every frame (capped at T - 1)."""
    pred_weight: float = 1.0
    var_weight: float = 16.0
    """Weight of the variance hinge (VICReg), which keeps each dimension's std at or above 1."""
    cov_weight: float = 8.0
    """Weight of the off-diagonal covariance penalty (VICReg)."""
    time_weight: float = 12.0
    """Weight of the time-similarity term (consecutive embeddings close)."""
    idm_weight: float = 1.0
    """Weight of the inverse-dynamics term, which keeps the dot in the embedding."""
    use_idm: bool = True
    """Train the inverse-dynamics head (ablation: False; the head then gets no gradient)."""
    use_varcov: bool = True
    """Use the variance and covariance terms (ablation: False)."""
    stop_grad_targets: bool = False
    """Detach the target embeddings of the prediction loss. EB-JEPA lets them carry gradient and
    relies on variance/covariance against collapse; True is the BYOL-like alternative."""
    # optimisation
    batch: int = 32
    """Trajectories per update (B * T frames go through the encoder)."""
    steps: int = 3000
    """Gradient updates."""
    lr: float = 1e-3
    """Adam's learning rate (constant)."""
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    """Clip the gradient's global norm at this value (0: no clipping)."""
    # planning: MPPI in embedding space, MPC in the real environment
    plan_samples: int = 200
    """Candidate action sequences per MPPI iteration."""
    plan_elites: int = 20
    """Only the lowest-cost candidates get weight in MPPI's update."""
    plan_iterations: int = 10
    """MPPI refinement iterations per plan (EB-JEPA: 20)."""
    plan_horizon: int = 40
    """H: imagined steps per plan (EB-JEPA: 90; 40 steps move up to 80 px here)."""
    replan_every: int = 1
    """Execute this many actions of each plan before planning again."""
    plan_cost: Literal["sum", "last"] = "sum"
    """Sum the embedding distance to the goal over the imagined steps, or take the last one only."""
    plan_temperature: float = 0.1
    """MPPI temperature on costs normalised by their spread (smaller: greedier)."""
    plan_noise_beta: float = 0.0
    """Temporal correlation of MPPI's samples: 0 white (as EB-JEPA), 1 pink, 2 red."""
    plan_init_std: float = 0.5
    """Std of the first sampling distribution of each plan (actions lie in [-1, 1])."""
    max_episode_steps: int = 200
    """Steps per planning episode."""
    eval_episodes: int = 20
    """Planning episodes at the end of training and for ``dreamlab eval`` (0: none after training)."""
    # bookkeeping
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    threads: int = 1
    """torch threads: small networks are fastest on one."""


PRESETS: dict[str, JEPAWMConfig] = {
    "tworooms": JEPAWMConfig(),
    "debug": JEPAWMConfig(
        trajectories=64,
        trajectory_length=6,
        image_size=16,
        channels=(4, 8),
        res_blocks=1,
        embed_dim=16,
        predictor_hidden=16,
        idm_hidden=16,
        rollout_steps=3,
        batch=8,
        steps=20,
        plan_samples=16,
        plan_elites=4,
        plan_iterations=2,
        plan_horizon=4,
        replan_every=2,
        max_episode_steps=6,
        eval_episodes=1,
        log_every=10,
        checkpoint_every=10,
    ),
}
