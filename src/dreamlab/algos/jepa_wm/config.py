"""Settings of the action-conditioned JEPA world model; the presets are the ones the benchmarks use."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["PRESETS", "JEPAWMConfig"]


@dataclass(frozen=True)
class JEPAWMConfig:
    """Everything that shapes a JEPA world-model run (defaults: the ``tworooms`` preset)."""

    recipe: Literal["eb_jepa", "pixel", "vjepa2_ac"] = "eb_jepa"
    """The model: eb_jepa (embeddings), pixel (its pixel-space baseline) or vjepa2_ac.

    ``eb_jepa``: Impala encoder + GRU predictor trained end to end on embeddings with VICReg
    and inverse-dynamics terms, planned on embedding distances. ``pixel``: the baseline of the
    same size that predicts pixels: the same encoder and predictor with a frame decoder instead
    of the inverse-dynamics head, trained to reconstruct the current and predicted frames,
    planned on the pixel distance of decoded frames to the goal frame. ``vjepa2_ac``: a ViT
    pretrained in the run with V-JEPA's objective, then frozen, and a block-causal transformer
    over frame tokens and action tokens (teacher-forced + rollout L1), planned on token L1."""
    # data: random walks of generate_two_rooms, made once per run from data_seed
    trajectories: int = 20000
    """Random-walk trajectories to train on (each with its own wall when ``random_wall``)."""
    trajectory_length: int = 33
    """T, frames per trajectory (T - 1 actions). Long walks, with K = T - 1, train the predictor
    on imagined stretches of 30 steps, as long as the ones that reach the door in a plan."""
    random_wall: bool = True
    """Sample the wall and door per trajectory and per evaluation episode (False: the fixed wall).
    The environment ``two-rooms-fixed`` forces the fixed wall."""
    obs_mode: Literal["2ch", "rgb"] = "2ch"
    """Frames as two channels (dot, walls) or as RGB; both come from the same renderer."""
    image_size: int = 32
    """Side of the encoder's input: the 65-pixel frame loses its last row and column (solid
    border) to make 64, then is average-pooled down to 32 (or 16); 64 keeps full resolution."""
    cross_fraction: float = 0.5
    """Fraction of the random walks steered through the door into the other room (EB-JEPA's data
    sends 35% through; uniform walks of 17 frames change rooms ~3% of the time)."""
    wall_fraction: float = 0.2
    """Fraction of the random walks that start beside the wall at any height and push across it:
    most slide along the solid wall, and only those at the door's height pass."""
    max_speed: float = 2.5
    """Each walk's step lengths (about 1 px) are scaled by a factor uniform in [1, max_speed],
    capped at 2 px: planners move at up to 2 px per step, and a predictor trained only on slower
    walks extrapolates there."""
    data_seed: int = 0
    """Seed of the random walks and walls."""
    # encoder: an Impala-style CNN to one flat embedding per frame
    channels: tuple[int, ...] = (16, 32, 32)
    """Channels of the stages; each stage is conv 3x3, max-pool 3x3 stride 2, residual blocks."""
    res_blocks: int = 2
    """Residual blocks per stage (Impala uses 2)."""
    input_norm: bool = True
    """Standardise each input channel with its mean and std over the training frames (EB-JEPA's
    normaliser): the dot covers ~1% of its channel and would otherwise barely register."""
    final_norm: bool = True
    """A LayerNorm on the embedding, shared by the predictor's outputs (EB-JEPA's final norm)."""
    embed_dim: int = 128
    """D, the embedding size: the state the predictor steps and the planner compares to the goal.

    Why 128 (EB-JEPA's Two-Rooms model is smaller): a probe from a 64-d embedding to the door's
    height misses by 10 px on a 9.7 px spread, so the 64-d model has no door in it and cannot
    imagine passing it. At D = 128 the probe's error is 1.8 px (``diagnostics.state_probe``)."""
    # predictor and inverse dynamics
    predictor: Literal["gru", "mlp"] = "mlp"
    """Next embedding from [embedding, action]: a two-layer GRU whose hidden states start from the
    embedding (EB-JEPA's), or a residual MLP.

    ``tworooms`` history, 100 benchmark episodes each: D 64 with a GRU of 64 planned 54% (T 17)
    and 59% (T 33, faster walks); D 128 with this MLP of 256 and crossing data plans 85%."""
    predictor_hidden: int = 256
    """Hidden width of the predictor."""
    idm_hidden: int = 64
    """Hidden width of the inverse-dynamics head (a_t from e_t and e_{t+1})."""
    decoder_channels: tuple[int, ...] = (32, 16, 8)
    """Pixel baseline: decoder channels per doubling stage, one per encoder stage.

    From the smallest feature map up; the defaults make 364,376 parameters in all, against the
    EB-JEPA model's 316,338."""
    pixel_pred_fraction: float = 0.25
    """Pixel baseline: fraction of the k-step predictions decoded per update (at random).

    An unbiased estimate of the same prediction loss: decoding all 3,200 predicted frames of a
    batch would take more time than the encoder and push training past an hour on one core."""
    # vjepa2_ac: the frame encoder, pretrained with V-JEPA's objective, then frozen
    encoder_steps: int = 4000
    """V-JEPA 2-AC: V-JEPA updates of the encoder before it is frozen.

    They come before the predictor's ``steps``, in the same step counter."""
    encoder_batch: int = 16
    """V-JEPA 2-AC: clips per V-JEPA update."""
    encoder_lr: float = 5e-4
    """V-JEPA 2-AC: AdamW's learning rate for the encoder, after a 100-step linear warm-up."""
    patch: int = 4
    """V-JEPA 2-AC: patch side of the ViT in pixels of the prepared frame (32 / 4: 8 x 8)."""
    vit_width: int = 64
    """V-JEPA 2-AC: D, the ViT's token width (divisible by 8 and by ``vit_heads``)."""
    vit_depth: int = 3
    vit_heads: int = 4
    vit_clip: int = 4
    """V-JEPA 2-AC: frames per V-JEPA pretraining clip (windows of the random walks)."""
    mask_pred_width: int = 32
    """V-JEPA 2-AC: width of V-JEPA's mask predictor (divisible by 8), for pretraining only."""
    mask_pred_depth: int = 2
    # vjepa2_ac: the action-conditioned predictor
    ac_pool: int = 2
    """V-JEPA 2-AC: a frame's patch tokens are average-pooled to ac_pool x ac_pool tokens."""
    ac_width: int = 48
    """V-JEPA 2-AC: width of the block-causal predictor (divisible by 4 and by ``ac_heads``)."""
    ac_depth: int = 2
    ac_heads: int = 4
    ac_window: int = 0
    """V-JEPA 2-AC: W, frames a frame attends to in training (0: all earlier frames, the paper's).

    A frame's tokens attend to the tokens of its own and the W - 1 previous frames."""
    ac_memory: int = 1
    """V-JEPA 2-AC: M, earlier imagined frames the predictor attends to while planning.

    Their tokens ride in the state (at most trajectory_length - 1). Each imagined step attends to
    the current and M earlier frames; M = 1 keeps the 200 x 40 imagined steps of an MPPI
    iteration at ~0.3 s of one core, and the first M + 1 imagined steps are exactly the
    teacher-forced predictions."""
    ac_rollout_steps: int = 2
    """V-JEPA 2-AC: autoregressive steps of the rollout loss from a sequence's first frame."""
    # loss: L = pred + var * L_var + cov * L_cov + time * L_time + idm * L_idm
    rollout_steps: int = 32
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
    batch: int = 16
    """Trajectories per update (B * T frames go through the encoder)."""
    steps: int = 6000
    """Gradient updates. ``tworooms``: 3,000 updates (22 min with a second run on the other
    core) planned 85% of the benchmark's 100 episodes, 6,000 (44 min) 93% at a constant learning
    rate and 98% with it decayed (``lr_end``)."""
    lr: float = 1e-3
    """Adam's peak learning rate."""
    lr_end: float = 0.05
    """The learning rate at the last update as a fraction of ``lr``, reached by a cosine decay
    over the updates (1: constant; EB-JEPA and the pixel baseline). ``tworooms``: 6,000 updates
    decayed to 0.05 planned 98% of the benchmark's 100 episodes, at a constant rate 93%."""
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    """Clip the gradient's global norm at this value (0: no clipping)."""
    # planning: MPPI in embedding space, MPC in the real environment
    plan_samples: int = 200
    """Candidate action sequences per MPPI iteration."""
    plan_elites: int = 20
    """Only the lowest-cost candidates get weight in MPPI's update."""
    plan_iterations: int = 10
    """MPPI refinement iterations of an episode's first plan (EB-JEPA: 20 on every plan)."""
    plan_warm_iterations: int = 2
    """MPPI iterations of every later plan of an episode, which is warm-started.

    It starts from the previous plan shifted by the steps executed since (the MPC agent's warm
    start), so it only has to refine it."""
    plan_horizon: int = 90
    """H: imagined steps per plan (EB-JEPA's 90).

    The horizon has to reach around the wall: with a cost summed over the imagined steps, a
    plan that presses against the wall toward the goal beats the detour through the door unless
    the detour arrives early enough in the horizon. Measured on one 500-update model (10
    episodes): 10% success at H = 40, 60% at H = 90, and still 60% when replanning every 2 steps
    with 20 iterations at 3.6x the planning time."""
    replan_every: int = 4
    """Execute this many actions of each plan before planning again (EB-JEPA: 1).

    Why 4, with 2 warm iterations: with the ``tworooms`` model a plan of 10 iterations of 200
    candidates over 90 steps costs ~1-1.3 s of one core, so replanning every step of a 200-step
    episode would take minutes. Replanning every 4 steps, each plan after the first
    warm-started with 2 iterations (~0.23 s), costs at most ~12 s per 200-step episode that
    fails and ~7 s on average when 60% succeed (measured); successful episodes end earlier.
    Between plans the dot moves at most 8 px along the previous plan, which the next one
    corrects. The same settings cost the pixel baseline ~10x as much (it decodes every imagined
    frame of an iteration) and V-JEPA 2-AC ~7x (a transformer step with memory per imagined
    frame)."""
    plan_cost: Literal["sum", "last"] = "sum"
    """Sum the embedding distance to the goal over the imagined steps, or take the last one only."""
    plan_temperature: float = 0.1
    """MPPI temperature on costs normalised by their spread (smaller: greedier)."""
    plan_noise_beta: float = 1.0
    """Temporal correlation of MPPI's samples: 0 white (as EB-JEPA), 1 pink, 2 red.

    Pink noise, because the plan has to find the detour through the door: white samples around
    a plan pressed against the wall cancel out within a few steps, correlated ones travel. On
    the same 10 episodes of the 3,000-update ``tworooms`` model: white 40% success (9.1 s per
    episode), pink 90% (5.6 s), red with std 1.0 70%, white with std 1.0 50%."""
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


_DEBUG = JEPAWMConfig(
    trajectories=64,
    trajectory_length=6,
    image_size=16,
    channels=(4, 8),
    res_blocks=1,
    embed_dim=16,
    predictor_hidden=16,
    idm_hidden=16,
    decoder_channels=(8, 4),
    rollout_steps=3,
    batch=8,
    steps=20,
    plan_samples=16,
    plan_elites=4,
    plan_iterations=2,
    plan_warm_iterations=1,
    plan_horizon=4,
    replan_every=2,
    max_episode_steps=6,
    eval_episodes=1,
    log_every=10,
    checkpoint_every=10,
)

PRESETS: dict[str, JEPAWMConfig] = {
    "tworooms": JEPAWMConfig(),
    # The pixel baseline costs ~0.7 s per update against ~0.43 s: 3,000 updates keep it in the
    # hour; its benchmark run kept the constant learning rate.
    "tworooms-pixel": JEPAWMConfig(recipe="pixel", steps=3000, lr_end=1.0),
    "tworooms-vjepa2ac": JEPAWMConfig(recipe="vjepa2_ac", steps=3000),
    # ``dreamlab demo``: the tworooms model with 1,000 updates, as many walks as they read once,
    # and two threads (the demo has the machine to itself), timed at a constant learning rate.
    "demo": JEPAWMConfig(
        trajectories=8000, steps=1000, lr_end=1.0, threads=2, eval_episodes=10, checkpoint_every=250
    ),
    "debug": _DEBUG,
    "debug-pixel": replace(_DEBUG, recipe="pixel"),
    "debug-vjepa2ac": replace(
        _DEBUG,
        recipe="vjepa2_ac",
        steps=10,
        encoder_steps=10,
        encoder_batch=4,
        patch=4,
        vit_width=16,
        vit_depth=1,
        vit_heads=2,
        vit_clip=3,
        mask_pred_width=8,
        mask_pred_depth=1,
        ac_pool=2,
        ac_width=16,
        ac_depth=1,
        ac_heads=2,
        ac_rollout_steps=2,
    ),
}
