"""An action-conditioned JEPA world model on Two-Rooms, trained on random walks and planned to a
goal image: the EB-JEPA recipe (Impala CNN encoder, recurrent predictor, VICReg-style
regularisers, inverse dynamics, MPPI on embedding distances).

The objective, and where each piece lives::

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

Neither a pixel distance nor the true position enters the planning cost: it reads the imagined
embeddings and the goal frame's embedding only; the environment's position serves only to score
success afterwards.

Deliberate deviations at this scale:

- Frames are cropped to 64 pixels (the dropped row and column are solid border) and
  average-pooled to 32 for speed; the embedding is one flat vector (D 64).
- The predictor is a residual two-layer GRU stepped once per action from hidden states made
  from the embedding, so the embedding alone is the state; it sees actions scaled to norm <= 1,
  the environment's own rule.
- Variance and covariance are taken over all B * T frames of a batch at once, not per time step
  and then averaged: 32 trajectories are fewer than the 64 dimensions they must decorrelate.
- The prediction loss averages the K rollout lengths (instead of summing), so the loss weights
  keep their meaning when K changes; K = 8 of the 16 steps of a trajectory.
- Planning uses the package's MPPI (cost normalised by its spread, elites, the final weighted
  mean executed rather than a sample among the elites), 10 iterations of 200 samples and a
  horizon of 40 instead of 20 and 90, to fit a CPU.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dreamlab.algos.jepa_wm.config import JEPAWMConfig
from dreamlab.algos.jepa_wm.model import (
    JEPAWorldModel,
    covariance_loss,
    idm_loss,
    multi_step_predictions,
    prediction_loss,
    prepare_frames,
    time_similarity_loss,
    variance_loss,
)
from dreamlab.envs.two_rooms import TwoRoomsEnv, generate_two_rooms
from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.eval.probes import feature_std
from dreamlab.planners import ActionSpec, MPCAgent, Objective, goal_objective, mppi
from dreamlab.planners.objectives import Reduce
from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from dreamlab.train.config import config_from_dict
from dreamlab.train.files import atomic_write_text
from dreamlab.train.progress import progress_bar
from dreamlab.train.run import MetricsLogger, RunDir, open_run, truncate_metrics
from dreamlab.train.seeding import numpy_rng_state, restore_numpy_rng, seed_everything
from dreamlab.train.torch_state import checkpoint_state, restore_state
from dreamlab.types import State

__all__ = [
    "ENVS",
    "Trajectories",
    "build_model",
    "embedding_objective",
    "evaluate",
    "jepa_losses",
    "load_model",
    "make_dataset",
    "plan_episodes",
    "random_wall_for",
    "train",
]

ENVS = ("two-rooms", "two-rooms-fixed")
EVAL_SEED = 1_000_000
_CHUNK = 256  # trajectories rendered at a time: full-size frames are 8 kB each


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
            m, t, random_wall=random_wall, obs_mode=cfg.obs_mode, seed=int(chunk_seed)
        )
        frames = torch.from_numpy(data.obs).flatten(0, 1)  # [m * T, ...]
        small = prepare_frames(frames, cfg.obs_mode, cfg.image_size)  # [m * T, C, S, S]
        obs.append(small.reshape(m, t, *small.shape[1:]).numpy())
        actions.append(data.actions)
    return Trajectories(np.concatenate(obs), np.concatenate(actions))


# ----------------------------------------------------------------------------- model and loss


def build_model(cfg: JEPAWMConfig) -> JEPAWorldModel:
    """The encoder, predictor and inverse-dynamics head of a config."""
    return JEPAWorldModel(
        cfg.obs_mode,
        cfg.image_size,
        cfg.channels,
        cfg.res_blocks,
        cfg.embed_dim,
        cfg.predictor,
        cfg.predictor_hidden,
        cfg.idm_hidden,
    )


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


# ----------------------------------------------------------------------------- planning


def embedding_objective(model: JEPAWorldModel, goal_obs: Any, reduce: Reduce = "sum") -> Objective:
    """The planning cost for a goal frame: L2 distance of each imagined embedding to the goal's.

    ``goal_obs`` is one frame as the environment gives it. The frame is encoded once, here; the
    objective then reads only the imagined states' embeddings, summed over the horizon
    (``"sum"``) or at its last step (``"last"``).
    """
    if reduce not in ("sum", "last"):
        raise unknown_choice("plan cost", reduce, ("sum", "last"))
    with torch.no_grad():
        goal = model.encode(torch.as_tensor(np.asarray(goal_obs)).unsqueeze(0))  # [1, D]

    def embedding(state: State) -> Tensor:
        return state.z

    return goal_objective(goal[0], reduce=reduce, metric="l2", features=embedding)


def plan_episodes(
    model: JEPAWorldModel,
    cfg: JEPAWMConfig,
    episodes: int,
    seed: int,
    *,
    random_wall: bool | None = None,
) -> dict[str, float]:
    """Play Two-Rooms episodes by MPC with MPPI in the model, toward each episode's goal frame.

    Episode i resets the environment (start and goal in different rooms) and the planner's
    noise with ``seed + i``. Returns ``success_rate``, ``plan_seconds_per_episode`` (time spent
    choosing actions), ``seconds_per_replan``, ``mean_steps`` and ``episodes``. ``random_wall``
    overrides ``cfg.random_wall``.
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
        planner = functools.partial(
            mppi,
            samples=cfg.plan_samples,
            iterations=cfg.plan_iterations,
            elites=cfg.plan_elites,
            temperature=cfg.plan_temperature,
            noise_beta=cfg.plan_noise_beta,
            init_std=cfg.plan_init_std,
            generator=torch.Generator().manual_seed(seed + i),
        )
        agent = MPCAgent(
            model=model,
            planner=planner,
            horizon=cfg.plan_horizon,
            spec=spec,
            objective=embedding_objective(model, info["goal_obs"], cfg.plan_cost),
            replan_every=cfg.replan_every,
        )
        carry, spent, success, steps = None, 0.0, False, 0
        while True:
            start = time.perf_counter()
            action, carry = agent.act(obs, carry)
            spent += time.perf_counter() - start
            obs, _, terminated, truncated, info = env.step(action)
            steps += 1
            success = success or bool(info["success"])
            if terminated or truncated:
                break
        successes.append(success)
        seconds.append(spent)
        lengths.append(steps)
        replans += carry.replans if carry is not None else 0
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
    model: JEPAWorldModel,
    opt: torch.optim.Optimizer,
    rng: np.random.Generator,
    step: int,
    wall: float,
) -> None:
    tensors, meta = checkpoint_state({"model": model}, {"opt": opt})
    meta.update({"rng": numpy_rng_state(rng), "wall": wall})
    save_checkpoint(run.checkpoints / "jepa_wm", step, dict(tensors), meta, keep=1)


def train(cfg: JEPAWMConfig, env_name: str, run: RunDir, resume: bool = False) -> dict[str, Any]:
    """Train on random walks of ``env_name`` for ``cfg.steps`` updates, then plan
    ``cfg.eval_episodes`` episodes; returns the final embedding std and the planning results."""
    torch.set_num_threads(cfg.threads)
    random_wall = random_wall_for(cfg, env_name)
    rng = seed_everything(cfg.seed)
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, wall = 0, 0.0
    folder = run.checkpoints / "jepa_wm"
    if resume and latest_checkpoint(folder) is not None:
        ckpt = load_checkpoint(folder)
        restore_state(ckpt.tensors, ckpt.meta, {"model": model}, {"opt": opt})
        rng, step, wall = restore_numpy_rng(ckpt.meta["rng"]), ckpt.step, ckpt.meta["wall"]
        truncate_metrics(run, step)  # rows logged after the checkpoint are logged again
    data = make_dataset(cfg, random_wall)
    obs_all, act_all = torch.from_numpy(data.obs), torch.from_numpy(data.actions)
    t0, saved_at = time.time() - wall, step
    embed_std = float("nan")
    with (
        MetricsLogger(run) as log,
        progress_bar(cfg.steps, f"JEPA world model on {env_name}") as bar,
    ):
        bar.advance(step)
        model.train()
        while step < cfg.steps:
            # ---- sample whole trajectories
            idx = torch.from_numpy(rng.integers(0, len(obs_all), cfg.batch))
            obs, actions = obs_all[idx], act_all[idx]  # [B, T, C, S, S], [B, T - 1, 2]
            # ---- update encoder, predictor and inverse-dynamics head together
            loss, terms, e = jepa_losses(model, obs, actions, cfg)
            opt.zero_grad()
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            bar.advance()
            # ---- log and save
            if step % cfg.log_every == 0 or step == cfg.steps:
                embed_std = feature_std(e.detach().flatten(0, 1))
                bar.status(f"loss {loss.item():.4f}, std {embed_std:.2f}")
                metrics = {f"train/loss/{k}": v.item() for k, v in terms.items()}
                metrics.update({"train/loss": loss.item(), "train/embed_std": embed_std})
                log.log(step, metrics)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                _save(run, model, opt, rng, step, time.time() - t0)
                saved_at = step
        if saved_at != step:
            _save(run, model, opt, rng, step, time.time() - t0)
        # ---- evaluate: plan toward goal frames in the real environment
        results: dict[str, Any] = {"train/embed_std": _embedding_std(model, obs_all)}
        if cfg.eval_episodes > 0:
            scores = plan_episodes(
                model, cfg, cfg.eval_episodes, EVAL_SEED, random_wall=random_wall
            )
            results.update({f"eval/{k}": v for k, v in scores.items()})
        if cfg.eval_episodes > 0:
            log.log(step, {k: v for k, v in results.items() if k.startswith("eval/")})
    summary = {"steps": step, "minutes": (time.time() - t0) / 60, **results}
    atomic_write_text(run.path / "summary.json", json.dumps(summary, indent=2) + "\n")
    return results


@torch.no_grad()
def _embedding_std(model: JEPAWorldModel, obs: Tensor, frames: int = 1024) -> float:
    """``feature_std`` of the embeddings of the first frames of the data (a fixed sample)."""
    model.eval()
    flat = obs.flatten(0, 1)[:frames]  # [F, C, S, S]
    return feature_std(model.encode(flat.float() / 255.0))


# ----------------------------------------------------------------------------- evaluation


def load_model(run: RunDir) -> tuple[JEPAWorldModel, JEPAWMConfig, str]:
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
