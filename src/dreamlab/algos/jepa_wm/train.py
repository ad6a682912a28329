"""Action-conditioned world models on Two-Rooms, trained on random walks and planned to a goal
image by MPPI: the EB-JEPA recipe, its pixel-space baseline, and the V-JEPA 2-AC recipe
(``recipe`` in the config). All three are trained by ``train`` and planned by ``plan_episodes``.

EB-JEPA (``recipe="eb_jepa"``; Impala CNN encoder, recurrent predictor, VICReg-style
regularisers, inverse dynamics), and where each piece lives::

    e_t = Enc(o_t)                                     model.ImpalaEncoder (JEPAWorldModel.encode)
    e^_{t+k} = Pred(e^_{t+k-1}, a_{t+k-1}), e^_t = e_t  model.GRUPredictor / MLPPredictor,
                                                       model.multi_step_predictions
    L_pred = mean_k MSE(e^_{t+k}, e_{t+k})             model.prediction_loss
    L_var  = mean_j relu(1 - sqrt(Var_{b,t} e_{b,t,j} + eps))       model.variance_loss
    L_cov  = 1/(D(D-1)) sum_{i!=j} C(e)_{ij}^2, C over all B T frames  model.covariance_loss
    L_time = mean |e_{t+1} - e_t|^2                    model.time_similarity_loss
    L_idm  = MSE(IDM(e_t, e_{t+1}), a_t)               model.InverseDynamics, model.idm_loss
    L = L_pred + 16 L_var + 8 L_cov + 12 L_time + 1 L_idm           jepa_losses
    plan: min_a sum_{h=1..H} |Pred^h(Enc(o_0), a) - Enc(o_goal)|_2  embedding_objective + mppi

Targets carry gradient, as in EB-JEPA: the encoder is shaped by the prediction loss from both
ends, and the variance and covariance terms keep it from collapsing to a constant (with
``use_varcov=False`` nothing does). The inverse-dynamics term makes the embedding keep the dot:
with random walls, an encoder can satisfy the other terms by describing the wall alone, which
never moves within a trajectory (Sobal et al. 2022's spurious-correlation collapse).

The pixel-space baseline (``recipe="pixel"``) has the same encoder and predictor and, instead of
the inverse-dynamics head, a frame decoder (model.FrameDecoder): 364,376 parameters in all
against the JEPA model's 316,338 (+15%, preset ``tworooms``). It predicts pixels, not embeddings::

    L = MSE(Dec(e_t), o_t) + mean_k MSE(Dec(e^_{t+k}), o_{t+k})      pixel_losses
    plan: min_a sum_h MSE(Dec(Pred^h(Enc(o_0), a)), o_goal)          pixel_objective + mppi

The reconstruction keeps the latent from collapsing, so it has no other terms. Each update
decodes a random quarter of the k-step predictions (``pixel_pred_fraction``; an unbiased
estimate of the same loss), which keeps an update within ~20% of the JEPA model's time.

V-JEPA 2-AC (``recipe="vjepa2_ac"``; Assran et al. 2025), in two stages of one run::

    1. pretrain a ViT on random-walk clips with V-JEPA's objective:   vjepa2ac.FrameViT,
       L1 of the predicted to the EMA encoder's layer-normed tokens   vjepa_loss,
       on masked tubes (8 blocks of 0.15, 2 of 0.7), EMA 0.998 -> 1  nn.video_masks
    2. freeze the EMA encoder; z_t = LN(pool(Enc(o_t)))             ACWorldModel.frame_tokens
       z^_{t+1} = P(a_{<=t}, z_{<=t}), block-causal over frames      vjepa2ac.ACPredictor
       L = |P(z, a)_t - z_{t+1}|_1 (teacher forced)                  vjepa2ac.ac_losses
         + |z^_{k} - z_k|_1, k = 1..2, rolled out from z_0
    plan: min_a sum_h |z^_h - z_goal|_1                              token_objective + mppi

Neither the true position nor (for the two JEPA recipes) a pixel distance enters a planning
cost: the costs read imagined states and the goal frame's encoding only (the baseline: decoded
frames and the goal frame); the environment's position serves only to score success afterwards.

Planning: every episode's first plan runs ``plan_iterations`` MPPI iterations; the MPC agent
then executes ``replan_every`` actions and replans from the previous plan shifted by those
steps with ``plan_warm_iterations`` iterations (``make_planner``). See ``replan_every`` in
config.py for the time budget this meets.

Deliberate deviations at this scale:

- Frames are cropped to 64 pixels (the dropped row and column are solid border) and
  average-pooled to 32 for speed; the EB-JEPA embedding is one flat vector (D 128).
- The EB-JEPA predictor (a residual two-layer GRU, or the preset's residual MLP) is stepped once
  per action from the embedding, so the embedding alone is the state; every predictor sees actions
  scaled to norm <= 1, the environment's own rule.
- Variance and covariance are taken over all B * T frames of a batch at once, not per time step
  and then averaged: 16 trajectories are fewer than the 128 dimensions they must decorrelate.
- The prediction loss averages the K rollout lengths (instead of summing), so the loss weights
  keep their meaning when K changes; K = 32, every step of a 33-frame trajectory.
- The learning rate falls by a cosine to ``lr_end`` (5%) of its peak over the updates.
- Planning uses the package's MPPI (cost normalised by its spread, elites, the final weighted
  mean executed rather than a sample among the elites), 10 iterations of 200 samples (instead of
  20) over EB-JEPA's horizon of 90, and replans every 4 steps with 2 warm-started iterations
  instead of every step, to fit a CPU. Its samples are pink noise (``plan_noise_beta`` 1), not
  white: the detour through the door needs samples that keep their direction.
- Input channels are standardised with the training frames' mean and std and the embedding
  ends in a LayerNorm that also ends every prediction, as in EB-JEPA.
- V-JEPA 2-AC: the encoder is a 3-block ViT of width 64 on 4-pixel patches of 32-pixel frames
  with tubelets one frame long (V-JEPA 2: a ViT-g with 2-frame tubelets, pretrained on over a
  million hours of internet video; here a few thousand random-walk clips of 4 frames from the
  same run). Its 64 patch tokens per frame are average-pooled to 2 x 2 before the predictor, to
  keep planning's 200 x 40 imagined frames per iteration affordable (V-JEPA 2-AC keeps all 256).
- V-JEPA 2-AC's predictor is a 24-block ViT with 3D rotary positions attending to every earlier
  frame of its clip, with proprioception tokens; here 2 blocks of width 48, additive sin-cos
  positions within a frame and a learned bias per frame offset, and no proprioception (the
  dot's position is not given). Training attends to every earlier frame of the 16-frame
  sequences, as the paper's; while planning, each imagined step attends to its own and the
  previous imagined frame only (``ac_memory`` = 1), a memory of fixed size that the state
  carries, so 200 x 40 imagined steps per iteration stay affordable. The first two imagined
  steps are exactly the teacher-forced predictions; later ones are what the same weights
  predict under a 2-frame attention window (each block looks one frame back, so older frames
  reach them only through the earlier blocks). Learning rates warm up over 100 steps and then
  stay constant (the paper's schedules decay); the encoder's AdamW uses weight decay 0.04.
- V-JEPA 2-AC plans with CEM over a horizon of 1 (800 samples); here the same MPPI and horizon
  as the other recipes, whose costs sum over the horizon.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.algos.jepa_wm.config import JEPAWMConfig
from dreamlab.algos.jepa_wm.model import (
    JEPAWorldModel,
    PixelWorldModel,
    covariance_loss,
    idm_loss,
    multi_step_predictions,
    prediction_loss,
    prepare_frames,
    time_similarity_loss,
    variance_loss,
)
from dreamlab.algos.jepa_wm.vjepa2ac import (
    LONG_MASK,
    SHORT_MASK,
    ACPredictor,
    ACWorldModel,
    FrameViT,
    ac_losses,
    vjepa_loss,
)
from dreamlab.envs.two_rooms import TwoRoomsEnv, generate_two_rooms
from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.eval.probes import feature_std
from dreamlab.nn.ema import ema_momentum, ema_update
from dreamlab.nn.video_masks import sample_video_masks
from dreamlab.nn.vit import Predictor
from dreamlab.planners import ActionSpec, MPCAgent, Objective, PlanResult, goal_objective, mppi
from dreamlab.planners.common import Planner
from dreamlab.planners.objectives import Reduce
from dreamlab.protocols import WorldModel
from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from dreamlab.train.config import config_from_dict
from dreamlab.train.files import atomic_write_text
from dreamlab.train.jepa_loop import cosine_decay
from dreamlab.train.progress import progress_bar
from dreamlab.train.run import MetricsLogger, RunDir, open_run, truncate_metrics
from dreamlab.train.seeding import numpy_rng_state, restore_numpy_rng, seed_everything
from dreamlab.train.torch_state import checkpoint_state, restore_state
from dreamlab.types import State, Trajectory

__all__ = [
    "ENVS",
    "RECIPES",
    "Model",
    "Trajectories",
    "build_model",
    "build_pretraining",
    "embedding_objective",
    "encode_dataset",
    "evaluate",
    "jepa_losses",
    "load_model",
    "make_dataset",
    "make_planner",
    "pixel_losses",
    "pixel_objective",
    "plan_episodes",
    "planning_objective",
    "play_episode",
    "random_wall_for",
    "token_objective",
    "train",
]

ENVS = ("two-rooms", "two-rooms-fixed")
RECIPES = ("eb_jepa", "pixel", "vjepa2_ac")
EVAL_SEED = 1_000_000
_CHUNK = 256  # trajectories rendered at a time: full-size frames are 8 kB each
_DECODE_CHUNK = 512  # imagined frames decoded at a time by the pixel cost: cache-sized pieces
WARMUP_STEPS = 100
"""Linear learning-rate warm-up of both V-JEPA 2-AC stages (a fixed count, so a run cut short
and resumed follows the same schedule as an uninterrupted one)."""
VJEPA_EMA = (0.998, 1.0)
"""V-JEPA's target-encoder momentum, linear over the pretraining steps."""
VJEPA_WEIGHT_DECAY = 0.04

Model = JEPAWorldModel | PixelWorldModel | ACWorldModel
"""The world model of any recipe."""


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class Trajectories:
    """Prepared random walks: ``obs`` uint8 [N, T, C, S, S], ``actions`` float32 [N, T - 1, 2]."""

    obs: np.ndarray
    actions: np.ndarray


def random_wall_for(cfg: JEPAWMConfig, env_name: str) -> bool:
    """Whether walls are random: ``two-rooms`` follows the config, ``two-rooms-fixed`` never."""
    if env_name not in ENVS:
        raise unknown_choice("jepa_wm environment", env_name, ENVS)
    return cfg.random_wall and env_name == "two-rooms"


def make_dataset(cfg: JEPAWMConfig, random_wall: bool) -> Trajectories:
    """``cfg.trajectories`` random walks of ``generate_two_rooms``, prepared for the encoder.

    Rendered in chunks (each with a seed drawn from ``data_seed``) and downsampled at once, so
    only the small frames are ever held: uint8 [N, T, C, S, S].
    """
    n, t = cfg.trajectories, cfg.trajectory_length
    seeds = np.random.default_rng(cfg.data_seed).integers(2**31, size=(n + _CHUNK - 1) // _CHUNK)
    obs, actions = [], []
    for i, chunk_seed in enumerate(seeds):
        m = min(_CHUNK, n - i * _CHUNK)
        data = generate_two_rooms(
            m,
            t,
            random_wall=random_wall,
            obs_mode=cfg.obs_mode,
            seed=int(chunk_seed),
            cross_fraction=cfg.cross_fraction,
            wall_fraction=cfg.wall_fraction,
            max_speed=cfg.max_speed,
        )
        frames = torch.from_numpy(data.obs).flatten(0, 1)  # [m * T, ...]
        small = prepare_frames(frames, cfg.obs_mode, cfg.image_size)  # [m * T, C, S, S]
        obs.append(small.reshape(m, t, *small.shape[1:]).numpy())
        actions.append(data.actions)
    return Trajectories(np.concatenate(obs), np.concatenate(actions))


# ----------------------------------------------------------------------------- models and losses


def build_model(cfg: JEPAWMConfig) -> Model:
    """The world model of the config's recipe, with fresh weights."""
    # the encoder and predictor that the JEPA model and its pixel baseline share
    shared = (cfg.obs_mode, cfg.image_size, cfg.channels, cfg.res_blocks, cfg.embed_dim)
    shared += (cfg.predictor, cfg.predictor_hidden)
    if cfg.recipe == "eb_jepa":
        return JEPAWorldModel(*shared, cfg.idm_hidden, cfg.final_norm)
    if cfg.recipe == "pixel":
        return PixelWorldModel(*shared, cfg.decoder_channels, cfg.final_norm)
    if cfg.recipe == "vjepa2_ac":
        if not 1 <= cfg.vit_clip <= cfg.trajectory_length:
            raise DreamlabError(
                f"vit_clip must be 1 .. trajectory_length ({cfg.trajectory_length}), got {cfg.vit_clip}"
            )
        encoder = FrameViT(
            2 if cfg.obs_mode == "2ch" else 3,
            cfg.image_size,
            cfg.patch,
            cfg.vit_clip,
            cfg.vit_width,
            cfg.vit_depth,
            cfg.vit_heads,
        )
        predictor = ACPredictor(
            cfg.vit_width,
            cfg.ac_pool,
            2,
            cfg.ac_width,
            cfg.ac_depth,
            cfg.ac_heads,
            max_frames=cfg.trajectory_length,
            window=cfg.ac_window or None,
        )
        return ACWorldModel(
            encoder, predictor, cfg.obs_mode, cfg.image_size, cfg.ac_pool, cfg.ac_memory
        )
    raise unknown_choice("jepa_wm recipe", cfg.recipe, RECIPES)


def build_pretraining(cfg: JEPAWMConfig, model: ACWorldModel) -> tuple[FrameViT, Predictor]:
    """V-JEPA's trainable pair for a V-JEPA 2-AC model: the context encoder, a copy of the
    model's (target) encoder, and the narrow mask predictor over the clip's token grid."""
    if cfg.mask_pred_width % 8 or cfg.mask_pred_width % cfg.vit_heads:
        raise DreamlabError(
            f"mask_pred_width {cfg.mask_pred_width} must be divisible by 8 and by vit_heads"
        )
    context = copy.deepcopy(model.encoder).requires_grad_(True)
    predictor = Predictor(
        (cfg.vit_clip, *context.grid),
        cfg.vit_width,
        cfg.mask_pred_width,
        cfg.mask_pred_depth,
        cfg.vit_heads,
    )
    return context, predictor


def jepa_losses(
    model: JEPAWorldModel, obs: Tensor, actions: Tensor, cfg: JEPAWMConfig
) -> tuple[Tensor, dict[str, Tensor], Tensor]:
    """The weighted loss of a batch, its terms and the embeddings [B, T, D].

    ``obs`` uint8 [B, T, C, S, S] (prepared frames), ``actions`` float [B, T - 1, 2]. Switched-off
    terms are still reported (variance, covariance: computed without gradient, to show collapse)
    but add nothing; with ``use_idm`` off the head is not even run, so it gets no gradient.
    """
    b, t = obs.shape[:2]
    e = model.encode(obs.flatten(0, 1).float() / 255.0).reshape(b, t, -1)  # [B, T, D]
    target = e.detach() if cfg.stop_grad_targets else e
    preds = multi_step_predictions(model.predict, e, actions, cfg.rollout_steps)
    # Statistics over every frame of the batch (N = B * T): a batch of B alone is smaller than D,
    # and D dimensions cannot be decorrelated at unit variance from fewer than D samples.
    frames = e.flatten(0, 1)  # [B * T, D]
    with torch.set_grad_enabled(cfg.use_varcov and torch.is_grad_enabled()):
        var, cov = variance_loss(frames), covariance_loss(frames)
    terms = {
        "pred": prediction_loss(preds, target),
        "var": var,
        "cov": cov,
        "time": time_similarity_loss(e),
        "idm": (
            idm_loss(model.idm(e[:, :-1], e[:, 1:]), actions) if cfg.use_idm else e.new_zeros(())
        ),
    }
    total = cfg.pred_weight * terms["pred"] + cfg.time_weight * terms["time"]
    if cfg.use_varcov:
        total = total + cfg.var_weight * var + cfg.cov_weight * cov
    if cfg.use_idm:
        total = total + cfg.idm_weight * terms["idm"]
    return total, terms, e


def pixel_losses(
    model: PixelWorldModel,
    obs: Tensor,
    actions: Tensor,
    cfg: JEPAWMConfig,
    rng: np.random.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor], Tensor]:
    """The pixel baseline's loss of a batch, its terms and the latents [B, T, D].

    ``obs`` uint8 [B, T, C, S, S] (prepared frames), ``actions`` float [B, T - 1, 2].
    ``recon``: MSE of the decoded latents to their own frames; ``pred``: the mean over k of the
    MSE of the decoded k-step predictions (the same rollouts as ``jepa_losses``) to the frames
    they predict. The loss is recon + pred_weight * pred.

    With ``rng``, only a random ``cfg.pixel_pred_fraction`` of each k's predictions is decoded:
    an unbiased estimate of the same ``pred`` for a fraction of the decoding, which otherwise
    costs more than the encoder (without ``rng`` every prediction is decoded).
    """
    b, t = obs.shape[:2]
    frames = obs.float() / 255.0  # [B, T, C, S, S]
    e = model.encoder(frames.flatten(0, 1)).reshape(b, t, -1)  # [B, T, D]
    recon = F.mse_loss(model.decoder(e.flatten(0, 1)), frames.flatten(0, 1))
    preds = multi_step_predictions(model.predict, e, actions, cfg.rollout_steps)
    errors = []
    for k, p in enumerate(preds, start=1):
        pred_k, target_k = p.flatten(0, 1), frames[:, k:].flatten(0, 1)  # [B (T - k), ...]
        if rng is not None and cfg.pixel_pred_fraction < 1.0:
            rows = len(pred_k)
            keep = max(1, round(cfg.pixel_pred_fraction * rows))
            pick = torch.from_numpy(np.sort(rng.choice(rows, keep, replace=False)))
            pred_k, target_k = pred_k[pick], target_k[pick]
        errors.append(F.mse_loss(model.decoder(pred_k), target_k))
    pred = torch.stack(errors).mean()
    return recon + cfg.pred_weight * pred, {"recon": recon, "pred": pred}, e


@torch.inference_mode()
def encode_dataset(model: ACWorldModel, obs: Tensor, chunk: int = 512) -> Tensor:
    """The frozen frame tokens of every prepared frame uint8 [N, T, C, S, S] -> [N, T, n, D].

    The encoder never changes after pretraining, so the predictor's targets are computed once.
    """
    model.eval()
    flat = obs.flatten(0, 1)  # [N * T, C, S, S]
    parts = [
        model.frame_tokens(flat[i : i + chunk].float() / 255.0) for i in range(0, len(flat), chunk)
    ]
    tokens = torch.cat(parts)  # [N * T, n, D]
    return tokens.reshape(*obs.shape[:2], *tokens.shape[1:])


# ----------------------------------------------------------------------------- planning


def _goal_frame(goal_obs: Any) -> Tensor:
    """One goal frame as the environment gives it -> a batch of one [1, ...]."""
    return torch.as_tensor(np.asarray(goal_obs)).unsqueeze(0)


def embedding_objective(model: JEPAWorldModel, goal_obs: Any, reduce: Reduce = "sum") -> Objective:
    """The planning cost for a goal frame: L2 distance of each imagined embedding to the goal's.

    ``goal_obs`` is one frame as the environment gives it. The frame is encoded once, here; the
    objective then reads only the imagined states' embeddings, summed over the horizon
    (``"sum"``) or at its last step (``"last"``).
    """
    if reduce not in ("sum", "last"):
        raise unknown_choice("plan cost", reduce, ("sum", "last"))
    with torch.no_grad():
        goal = model.encode(_goal_frame(goal_obs))  # [1, D]

    def embedding(state: State) -> Tensor:
        return state.z

    return goal_objective(goal[0], reduce=reduce, metric="l2", features=embedding)


def pixel_objective(model: PixelWorldModel, goal_obs: Any, reduce: Reduce = "sum") -> Objective:
    """The pixel baseline's planning cost: the MSE between each decoded imagined frame and the
    goal frame (prepared like the training frames, in [0, 1]), summed over the horizon or last.

    It reads only ``model.decode`` of the imagined states s_1 .. s_H and the goal frame's pixels.
    """
    if reduce not in ("sum", "last"):
        raise unknown_choice("plan cost", reduce, ("sum", "last"))
    goal = prepare_frames(_goal_frame(goal_obs), model.obs_mode, model.image_size).float() / 255.0

    def objective(trajectory: Trajectory) -> Tensor:
        states = trajectory.states  # tensors [BN, H + 1, ...]
        bn, h = states.batch_size, trajectory.horizon
        flat = states.map(lambda t: t[:, 1:].reshape(bn * h, *t.shape[2:]))  # [BN * H, ...]
        # Decoded and compared piece by piece: the frames of a whole iteration (N * H of them,
        # 8 kB each) are never held at once, and each piece stays in cache.
        errors = [
            (model.decode(flat.index(slice(i, i + _DECODE_CHUNK))) - goal).square().mean((1, 2, 3))
            for i in range(0, bn * h, _DECODE_CHUNK)
        ]
        dist = torch.cat(errors).reshape(bn, h)  # [BN, H]
        return dist.sum(dim=1) if reduce == "sum" else dist[:, -1]

    return objective


def token_objective(model: ACWorldModel, goal_obs: Any, reduce: Reduce = "sum") -> Objective:
    """V-JEPA 2-AC's planning cost: the L1 distance between each imagined frame's tokens and the
    goal frame's (encoded once, here by the frozen encoder), summed over the horizon or last."""
    if reduce not in ("sum", "last"):
        raise unknown_choice("plan cost", reduce, ("sum", "last"))
    with torch.no_grad():
        goal = model.encode(_goal_frame(goal_obs))  # [1, n, D]

    def tokens(state: State) -> Tensor:
        return state.z.flatten(1)  # [B, n * D]

    return goal_objective(goal.flatten(), reduce=reduce, metric="l1", features=tokens)


def planning_objective(model: Model, goal_obs: Any, reduce: Reduce = "sum") -> Objective:
    """The cost a model is planned with: embeddings (EB-JEPA), decoded pixels (the baseline) or
    frame tokens (V-JEPA 2-AC)."""
    if isinstance(model, PixelWorldModel):
        return pixel_objective(model, goal_obs, reduce)
    if isinstance(model, ACWorldModel):
        return token_objective(model, goal_obs, reduce)
    return embedding_objective(model, goal_obs, reduce)


def make_planner(cfg: JEPAWMConfig, generator: torch.Generator) -> Planner:
    """MPPI with the config's settings: ``plan_iterations`` for a plan from scratch, and
    ``plan_warm_iterations`` for one warm-started from a previous plan (``init_mean`` given)."""

    def plan(
        model: WorldModel,
        state: State,
        objective: Objective,
        horizon: int,
        spec: ActionSpec,
        *,
        init_mean: Tensor | None = None,
    ) -> PlanResult:
        iterations = cfg.plan_iterations if init_mean is None else cfg.plan_warm_iterations
        return mppi(
            model,
            state,
            objective,
            horizon,
            spec,
            samples=cfg.plan_samples,
            iterations=iterations,
            elites=cfg.plan_elites,
            temperature=cfg.plan_temperature,
            noise_beta=cfg.plan_noise_beta,
            init_mean=init_mean,
            init_std=cfg.plan_init_std,
            generator=generator,
        )

    return plan


def play_episode(
    env: TwoRoomsEnv,
    agent: MPCAgent,
    obs: np.ndarray,
    before_act: Callable[[], None] | None = None,
) -> tuple[bool, float, int, int]:
    """Play one reset episode from ``obs`` with ``agent`` until it ends; ``before_act`` runs
    before every action. Returns (reached the goal, seconds spent choosing actions, steps,
    replans)."""
    carry, spent, success, steps = None, 0.0, False, 0
    while True:
        if before_act is not None:
            before_act()
        start = time.perf_counter()
        action, carry = agent.act(obs, carry)
        spent += time.perf_counter() - start
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
        success = success or bool(info["success"])
        if terminated or truncated:
            break
    return success, spent, steps, carry.replans if carry is not None else 0


def plan_episodes(
    model: Model,
    cfg: JEPAWMConfig,
    episodes: int,
    seed: int,
    *,
    random_wall: bool | None = None,
) -> dict[str, float]:
    """Play Two-Rooms episodes by MPC with MPPI in the model, toward each episode's goal frame.

    Episode i resets the environment (start and goal in different rooms) and the planner's
    noise with ``seed + i``; the cost is ``planning_objective``'s. Returns ``success_rate``,
    ``plan_seconds_per_episode`` (time spent choosing actions), ``seconds_per_replan``,
    ``mean_steps`` and ``episodes``. ``random_wall`` overrides ``cfg.random_wall``.
    """
    if episodes < 1:
        raise DreamlabError(f"plan_episodes needs at least one episode, got {episodes}")
    wall = cfg.random_wall if random_wall is None else random_wall
    env = TwoRoomsEnv(random_wall=wall, obs_mode=cfg.obs_mode, max_steps=cfg.max_episode_steps)
    spec = ActionSpec.from_space(env.action_space)
    model.eval()
    successes, seconds, lengths, replans = [], [], [], 0
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        agent = MPCAgent(
            model=model,
            planner=make_planner(cfg, torch.Generator().manual_seed(seed + i)),
            horizon=cfg.plan_horizon,
            spec=spec,
            objective=planning_objective(model, info["goal_obs"], cfg.plan_cost),
            replan_every=cfg.replan_every,
        )
        success, spent, steps, agent_replans = play_episode(env, agent, obs)
        successes.append(success)
        seconds.append(spent)
        lengths.append(steps)
        replans += agent_replans
    env.close()
    return {
        "success_rate": float(np.mean(successes)),
        "plan_seconds_per_episode": float(np.mean(seconds)),
        "seconds_per_replan": float(np.sum(seconds) / max(replans, 1)),
        "mean_steps": float(np.mean(lengths)),
        "episodes": float(episodes),
    }


# ----------------------------------------------------------------------------- the run


def _save(
    run: RunDir,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    rng: np.random.Generator,
    step: int,
    wall: float,
) -> None:
    tensors, meta = checkpoint_state(modules, optimizers)
    meta.update({"rng": numpy_rng_state(rng), "wall": wall})
    save_checkpoint(run.checkpoints / "jepa_wm", step, dict(tensors), meta, keep=1)


def _restore(
    run: RunDir, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]
) -> tuple[np.random.Generator, int, float] | None:
    """Load the run's latest checkpoint into the modules and optimizers: (rng, step, wall
    seconds), or None when there is none. Metrics logged after it are dropped, to be logged
    again."""
    folder = run.checkpoints / "jepa_wm"
    if latest_checkpoint(folder) is None:
        return None
    ckpt = load_checkpoint(folder)
    restore_state(ckpt.tensors, ckpt.meta, modules, optimizers)
    truncate_metrics(run, ckpt.step)
    return restore_numpy_rng(ckpt.meta["rng"]), ckpt.step, ckpt.meta["wall"]


def _warmup(step: int, peak: float) -> float:
    """Learning rate at update ``step`` of a stage: linear to ``peak`` over WARMUP_STEPS."""
    return peak * min(1.0, (step + 1) / WARMUP_STEPS)


def cosine_lr(step: int, total: int, peak: float, end_fraction: float) -> float:
    """Learning rate at update ``step`` of ``total``: cosine from ``peak`` to ``peak * end_fraction``."""
    return cosine_decay(step / max(total, 1), peak, peak * end_fraction)


def train(cfg: JEPAWMConfig, env_name: str, run: RunDir, resume: bool = False) -> dict[str, Any]:
    """Train the config's recipe on random walks of ``env_name`` (``steps`` updates, preceded by
    ``encoder_steps`` of pretraining for V-JEPA 2-AC), then plan ``cfg.eval_episodes`` episodes;
    returns the final embedding (or token) std and the planning results."""
    torch.set_num_threads(cfg.threads)
    random_wall = random_wall_for(cfg, env_name)
    if cfg.recipe not in RECIPES:
        raise unknown_choice("jepa_wm recipe", cfg.recipe, RECIPES)
    if cfg.recipe == "vjepa2_ac":
        return _train_vjepa2ac(cfg, env_name, run, resume, random_wall)
    return _train_end_to_end(cfg, env_name, run, resume, random_wall)


def _train_end_to_end(
    cfg: JEPAWMConfig, env_name: str, run: RunDir, resume: bool, random_wall: bool
) -> dict[str, Any]:
    """EB-JEPA and the pixel baseline: encoder, predictor and head (IDM or decoder) together."""
    rng = seed_everything(cfg.seed)
    model = build_model(cfg)
    assert isinstance(model, (JEPAWorldModel, PixelWorldModel))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    modules: dict[str, nn.Module] = {"model": model}
    optimizers: dict[str, torch.optim.Optimizer] = {"opt": opt}
    step, wall = 0, 0.0
    restored = _restore(run, modules, optimizers) if resume else None
    if restored is not None:
        rng, step, wall = restored
    data = make_dataset(cfg, random_wall)
    obs_all, act_all = torch.from_numpy(data.obs), torch.from_numpy(data.actions)
    if cfg.input_norm and restored is None:
        # a resumed run has its statistics in the checkpoint
        model.encoder.set_input_stats(obs_all[:256].flatten(0, 1).float() / 255.0)
    t0, saved_at = time.time() - wall, step
    title = "JEPA world model" if cfg.recipe == "eb_jepa" else "pixel world model"
    with MetricsLogger(run) as log, progress_bar(cfg.steps, f"{title} on {env_name}") as bar:
        bar.advance(step)
        model.train()
        while step < cfg.steps:
            # ---- sample whole trajectories
            idx = torch.from_numpy(rng.integers(0, len(obs_all), cfg.batch))
            obs, actions = obs_all[idx], act_all[idx]  # [B, T, C, S, S], [B, T - 1, 2]
            # ---- update encoder, predictor and head together
            if isinstance(model, PixelWorldModel):
                loss, terms, e = pixel_losses(model, obs, actions, cfg, rng)
            else:
                assert isinstance(model, JEPAWorldModel)
                loss, terms, e = jepa_losses(model, obs, actions, cfg)
            opt.zero_grad()
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, cfg.steps, cfg.lr, cfg.lr_end)
            opt.step()
            step += 1
            bar.advance()
            # ---- log and save
            if step % cfg.log_every == 0 or step == cfg.steps:
                embed_std = feature_std(e.detach().flatten(0, 1))
                bar.status(f"loss {loss.item():.4f}, std {embed_std:.2f}")
                metrics = {f"train/loss/{k}": v.item() for k, v in terms.items()}
                metrics.update({"train/loss": loss.item(), "train/embed_std": embed_std})
                metrics["train/lr"] = opt.param_groups[0]["lr"]
                log.log(step, metrics)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                _save(run, modules, optimizers, rng, step, time.time() - t0)
                saved_at = step
        if saved_at != step:
            _save(run, modules, optimizers, rng, step, time.time() - t0)
        std = _embedding_std(model, obs_all)
        results = _finish(cfg, model, random_wall, std, log, step)
    return _summary(run, step, t0, results)


def _train_vjepa2ac(
    cfg: JEPAWMConfig, env_name: str, run: RunDir, resume: bool, random_wall: bool
) -> dict[str, Any]:
    """V-JEPA 2-AC: pretrain the encoder with V-JEPA's objective, freeze it, then train the
    action-conditioned predictor on its tokens. One step counter runs through both stages."""
    rng = seed_everything(cfg.seed)
    model = build_model(cfg)
    assert isinstance(model, ACWorldModel)
    context, mask_predictor = build_pretraining(cfg, model)
    opt_enc = torch.optim.AdamW(
        [*context.parameters(), *mask_predictor.parameters()],
        lr=cfg.encoder_lr,
        weight_decay=VJEPA_WEIGHT_DECAY,
    )
    # Only the predictor is optimised in stage 2: the frozen encoder is never handed over.
    opt = torch.optim.AdamW(model.predictor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    modules: dict[str, nn.Module] = {
        "model": model,
        "context": context,
        "mask_predictor": mask_predictor,
    }
    optimizers: dict[str, torch.optim.Optimizer] = {"opt_enc": opt_enc, "opt": opt}
    step, wall = 0, 0.0
    restored = _restore(run, modules, optimizers) if resume else None
    if restored is not None:
        rng, step, wall = restored
    data = make_dataset(cfg, random_wall)
    obs_all, act_all = torch.from_numpy(data.obs), torch.from_numpy(data.actions)
    pre, total = cfg.encoder_steps, cfg.encoder_steps + cfg.steps
    grid = (cfg.vit_clip, *context.grid)
    t0, saved_at = time.time() - wall, step
    with MetricsLogger(run) as log, progress_bar(total, f"V-JEPA 2-AC on {env_name}") as bar:
        bar.advance(step)

        def save_if_due(loop_end: int) -> None:
            nonlocal saved_at
            if step % cfg.checkpoint_every == 0 or step == loop_end:
                _save(run, modules, optimizers, rng, step, time.time() - t0)
                saved_at = step

        # ---- stage 1: V-JEPA on random-walk clips; model.encoder is the EMA target
        context.train()
        mask_predictor.train()
        while step < pre:
            for group in opt_enc.param_groups:
                group["lr"] = _warmup(step, cfg.encoder_lr)
            n, t = obs_all.shape[:2]
            idx = torch.from_numpy(rng.integers(0, n, cfg.encoder_batch))
            first = torch.from_numpy(rng.integers(0, t - cfg.vit_clip + 1, cfg.encoder_batch))
            frames = first[:, None] + torch.arange(cfg.vit_clip)  # [B, clip]
            clips = obs_all[idx[:, None], frames].float() / 255.0  # [B, clip, C, S, S]
            mask_sets = [
                sample_video_masks(rng, grid, cfg.encoder_batch, *SHORT_MASK),
                sample_video_masks(rng, grid, cfg.encoder_batch, *LONG_MASK),
            ]
            loss = vjepa_loss(context, mask_predictor, model.encoder, clips, mask_sets)
            opt_enc.zero_grad()
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(
                    [*context.parameters(), *mask_predictor.parameters()], cfg.grad_clip
                )
            opt_enc.step()
            momentum = ema_momentum(step, pre, *VJEPA_EMA)
            ema_update(model.encoder, context, momentum)
            step += 1
            bar.advance()
            if step % cfg.log_every == 0 or step == pre:
                bar.status(f"V-JEPA loss {loss.item():.4f}")
                log.log(step, {"pretrain/loss": loss.item(), "pretrain/ema_momentum": momentum})
            save_if_due(pre)

        # ---- stage 2: the encoder is frozen; its tokens are the predictor's inputs and targets
        bar.status("encoding the data set with the frozen encoder")
        tokens_all = encode_dataset(model, obs_all)  # [N, T, n, D]
        model.predictor.train()
        while step < total:
            for group in opt.param_groups:
                group["lr"] = _warmup(step - pre, cfg.lr)
            idx = torch.from_numpy(rng.integers(0, len(tokens_all), cfg.batch))
            loss, terms = ac_losses(
                model.predictor, tokens_all[idx], act_all[idx], cfg.ac_rollout_steps
            )
            opt.zero_grad()
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.predictor.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            bar.advance()
            if step % cfg.log_every == 0 or step == total:
                bar.status(f"loss {loss.item():.4f}")
                metrics = {f"train/loss/{k}": v.item() for k, v in terms.items()}
                metrics["train/loss"] = loss.item()
                log.log(step, metrics)
            save_if_due(total)
        if saved_at != step:
            _save(run, modules, optimizers, rng, step, time.time() - t0)
        std = feature_std(tokens_all.flatten(0, 1)[:1024].flatten(1))
        results = _finish(cfg, model, random_wall, std, log, step)
    return _summary(run, step, t0, results)


def _finish(
    cfg: JEPAWMConfig,
    model: Model,
    random_wall: bool,
    embed_std: float,
    log: MetricsLogger,
    step: int,
) -> dict[str, Any]:
    """The end of a run: the std of its representation and ``eval_episodes`` planning episodes."""
    results: dict[str, Any] = {"train/embed_std": embed_std}
    if cfg.eval_episodes > 0:
        scores = plan_episodes(model, cfg, cfg.eval_episodes, EVAL_SEED, random_wall=random_wall)
        results.update({f"eval/{k}": v for k, v in scores.items()})
        log.log(step, {k: v for k, v in results.items() if k.startswith("eval/")})
    return results


def _summary(run: RunDir, step: int, t0: float, results: dict[str, Any]) -> dict[str, Any]:
    """Write ``summary.json`` (steps, minutes since the run began, results); return results."""
    summary = {"steps": step, "minutes": (time.time() - t0) / 60, **results}
    atomic_write_text(run.path / "summary.json", json.dumps(summary, indent=2) + "\n")
    return results


@torch.no_grad()
def _embedding_std(
    model: JEPAWorldModel | PixelWorldModel, obs: Tensor, frames: int = 1024
) -> float:
    """``feature_std`` of the embeddings of the first frames of the data (a fixed sample)."""
    model.eval()
    flat = obs.flatten(0, 1)[:frames]  # [F, C, S, S]
    return feature_std(model.encode(flat.float() / 255.0))


# ----------------------------------------------------------------------------- evaluation


def load_model(run: RunDir) -> tuple[Model, JEPAWMConfig, str]:
    """The run's latest model, its config and its environment name."""
    _, saved = open_run(run.path)
    cfg = config_from_dict(JEPAWMConfig, saved["config"])
    folder = run.checkpoints / "jepa_wm"
    if latest_checkpoint(folder) is None:
        raise DreamlabError(f"{run.path} has no jepa_wm checkpoint yet: train it first")
    model = build_model(cfg)
    ckpt = load_checkpoint(folder)
    restore_state(ckpt.tensors, ckpt.meta, {"model": model})
    return model.eval(), cfg, saved["env"]


def evaluate(run: RunDir, episodes: int) -> dict[str, Any]:
    """``dreamlab eval RUN``: ``episodes`` planning episodes with the run's planning settings."""
    model, cfg, env_name = load_model(run)
    torch.set_num_threads(cfg.threads)
    scores = plan_episodes(
        model, cfg, episodes, EVAL_SEED, random_wall=random_wall_for(cfg, env_name)
    )
    return {f"eval/{k}": v for k, v in scores.items()}
