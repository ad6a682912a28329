"""DreamerV3 (Hafner et al., "Mastering diverse control tasks through world models", Nature 2025).

The Nature version is implemented. One loop alternates acting in the environment with gradient
steps; each gradient step replays ``batch`` sequences of ``length`` steps and optimises three
losses with one LaProp optimiser (adaptive gradient clipping 0.3, lr 4e-5 after a linear warm-up):

World model (Methods, "World model learning"), mean over the replayed [B, T] steps::

    L(phi) = L_pred + dyn_scale L_dyn + rep_scale L_rep
    L_pred = symlog-MSE or MSE reconstruction + two-hot CE of r_t + logistic loss of c_t
    L_dyn  = max(1, KL[sg(q(z_t | h_t, x_t)) || p(z_t | h_t)])
    L_rep  = max(1, KL[q(z_t | h_t, x_t) || sg(p(z_t | h_t))])             -> world_model_loss

Imagination (Methods, "Critic learning" and "Actor learning"): from every posterior state of the
batch (B x T starts), the actor and the prior roll out ``imag_length`` = 15 steps; rewards and
continue flags come from the heads, gamma = 1 - 1/333 folds into the continue flags::

    R^lambda_t = r_{t+1} + gamma c_{t+1} ((1 - lambda) v(s_{t+1}) + lambda R^lambda_{t+1})   -> math.lambda_returns
    S = EMA of the 95th - 5th percentile of R^lambda, scale max(1, S)         -> math.ReturnNormalizer
    L_actor  = -sum_t w_t [ log pi(a_t | s_t) sg((R^lambda_t - v(s_t)) / max(1, S)) + eta H[pi(. | s_t)] ]
    L_critic = sum_t w_t [ CE(v(s_t), sg(R^lambda_t)) + CE(v(s_t), sg(v_slow(s_t))) ]
                                                                               -> actor_critic_loss
with w_t the product of the predicted continue flags (a trajectory that ended weighs 0), the policy
gradient by REINFORCE for discrete and continuous actions alike, and v_slow the critic's EMA (rate
0.02). The critic also learns on the replayed trajectories, bootstrapped from the imagined returns
(weight 0.3)                                                                   -> replay_value_loss

Deliberate deviations, each small: evaluation episodes act with the policy's mode (argmax or mean)
instead of a sample; replayed sequences start from the initial state (no stored context latents);
the weights' initialisation is PyTorch's (see networks.py).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.algos.dreamer.config import DreamerConfig
from dreamlab.algos.dreamer.math import (
    LaProp,
    ReturnNormalizer,
    agc_,
    dyn_rep_losses,
    lambda_returns,
    twohot_bins,
    twohot_decode,
    twohot_loss,
)
from dreamlab.algos.dreamer.networks import (
    RSSM,
    Actor,
    ImageDecoder,
    ImageEncoder,
    Latent,
    VectorDecoder,
    VectorEncoder,
    mlp,
    zero_output,
)
from dreamlab.algos.dreamer.replay import StreamReplay
from dreamlab.envs import make_env
from dreamlab.errors import DreamlabError
from dreamlab.eval.results import spread
from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from dreamlab.train.config import config_from_dict
from dreamlab.train.files import atomic_write_text
from dreamlab.train.progress import progress_bar
from dreamlab.train.run import MetricsLogger, RunDir, open_run
from dreamlab.train.seeding import numpy_rng_state, restore_numpy_rng, seed_everything
from dreamlab.train.torch_state import checkpoint_state, restore_state
from dreamlab.types import Batch, State, StepOut

__all__ = [
    "Dreamer",
    "EnvInfo",
    "actor_critic_loss",
    "env_info",
    "evaluate",
    "evaluate_returns",
    "imagine",
    "replay_returns",
    "replay_value_loss",
    "train",
    "world_model_loss",
]

EVAL_SEED = 1_000_000


# ----------------------------------------------------------------------------- the agent


@dataclass(frozen=True)
class EnvInfo:
    """What Dreamer needs to know about an environment."""

    name: str
    obs_shape: tuple[int, ...]
    image: bool
    discrete: bool
    action_dim: int
    low: tuple[float, ...] = ()
    """The box's bounds (continuous actions): the actor's [-1, 1] maps onto [low, high]."""
    high: tuple[float, ...] = ()
    pixels: bool = False
    """Whether the observations are the env's rendered frames (``make_env(..., pixels=True)``)."""


def env_info(name: str, pixels: bool = False) -> EnvInfo:
    """Vector ([D]) or image ([64, 64, C] uint8) observations; discrete or box actions."""
    env = make_env(name, pixels=pixels)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(obs_space, gymnasium.spaces.Box) or len(obs_space.shape) not in (1, 3):
        raise DreamlabError(f"Dreamer takes vector or image observations; {name} has {obs_space}")
    image = len(obs_space.shape) == 3
    if image and obs_space.dtype != np.uint8:
        raise DreamlabError(f"{name}'s images are {obs_space.dtype}; Dreamer stores uint8 frames")
    if isinstance(act_space, gymnasium.spaces.Discrete):
        return EnvInfo(name, tuple(obs_space.shape), image, True, int(act_space.n), pixels=pixels)
    if isinstance(act_space, gymnasium.spaces.Box) and len(act_space.shape) == 1:
        low, high = act_space.low.astype(float), act_space.high.astype(float)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise DreamlabError(f"Dreamer needs bounded actions; {name} has {act_space}")
        shape = tuple(obs_space.shape)
        return EnvInfo(name, shape, image, False, len(low), tuple(low), tuple(high), pixels)
    raise DreamlabError(f"Dreamer takes discrete or vector actions; {name} has {act_space}")


class Dreamer(nn.Module):
    """World model (encoder, RSSM, decoder, reward and continue heads), actor and critic.

    It is a dreamlab ``WorldModel``: states carry z (the one-hot latents) and h (the GRU state).
    """

    def __init__(self, cfg: DreamerConfig, info: EnvInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        if info.image:
            self.encoder: nn.Module = ImageEncoder(info.obs_shape[-1], cfg)
        else:
            self.encoder = VectorEncoder(info.obs_shape[0], cfg)
        self.rssm = RSSM(cfg, info.action_dim, self.encoder.out)  # type: ignore[arg-type]
        feat = cfg.deter + cfg.stoch * cfg.classes
        if info.image:
            self.decoder: nn.Module = ImageDecoder(feat, info.obs_shape[-1], cfg)
        else:
            self.decoder = VectorDecoder(feat, info.obs_shape[0], cfg)
        self.reward_head = zero_output(mlp(feat, cfg.units, 1, cfg.bins))
        self.cont_head = mlp(feat, cfg.units, 1, 1)
        self.actor = Actor(feat, info.action_dim, info.discrete, cfg)
        self.critic = zero_output(mlp(feat, cfg.units, cfg.mlp_layers, cfg.bins))
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.register_buffer("bins", twohot_bins(cfg.bins))

    @property
    def gamma(self) -> float:
        """The discount 1 - 1 / horizon."""
        return 1.0 - 1.0 / self.cfg.horizon

    # the WorldModel contract
    def initial(self, obs: Tensor) -> State:
        """The posterior of a first observation [B, ...]."""
        b = obs.shape[0]
        start = self.rssm.initial(b)
        post, _ = self.rssm.obs_step(
            start,
            torch.zeros(b, self.info.action_dim),
            self.encoder(obs),
            torch.ones(b, dtype=torch.bool),
        )
        return _to_state(post)

    def observe(self, state: State, action: Tensor, obs: Tensor) -> State:
        """Filter o_{t+1} reached by a_t into the state."""
        b = obs.shape[0]
        post, _ = self.rssm.obs_step(
            _to_latent(state),
            self._action_vector(action),
            self.encoder(obs),
            torch.zeros(b, dtype=torch.bool),
        )
        return _to_state(post)

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """One imagined step through the prior, with the predicted reward and continue flag."""
        nxt = self.rssm.img_step(_to_latent(state), self._action_vector(action))
        feat = nxt.features()
        reward = twohot_decode(self.reward_head(feat), self.bins)
        cont = torch.sigmoid(self.cont_head(feat)[:, 0])
        return _to_state(nxt), StepOut(reward=reward, cont=cont)

    def decode(self, state: State) -> Tensor:
        """The decoder's observation of a state."""
        return self.decoder(_to_latent(state).features())

    def _action_vector(self, action: Tensor) -> Tensor:
        if self.info.discrete:
            return F.one_hot(action.long(), self.info.action_dim).float()
        return action.float()


def _to_state(latent: Latent) -> State:
    return State(z=latent.stoch, h=latent.deter, extras={"logits": latent.logits})


def _to_latent(state: State) -> Latent:
    assert state.h is not None
    return Latent(state.h, state.z, state.extras["logits"])


# ----------------------------------------------------------------------------- losses


def world_model_loss(model: Dreamer, batch: Batch) -> tuple[Tensor, dict[str, Tensor], Latent]:
    """L(phi) over a replayed batch [B, T]; returns the loss, its parts and the posteriors."""
    cfg = model.cfg
    b, t = batch.shape
    embed = model.encoder(batch.obs.flatten(0, 1)).unflatten(0, (b, t))  # [B, T, E]
    post, prior_logits = model.rssm.observe(
        embed, batch.action.float(), batch.is_first, model.rssm.initial(b)
    )
    feat = post.features()  # [B, T, F]
    flat = feat.flatten(0, 1)  # [B * T, F]
    rec = model.decoder.loss(flat, batch.obs.flatten(0, 1)).mean()
    rew = twohot_loss(model.reward_head(flat), batch.reward.flatten(), model.bins).mean()
    cont_target = (~batch.is_terminal).float().flatten()
    con = F.binary_cross_entropy_with_logits(model.cont_head(flat)[:, 0], cont_target)
    dyn, rep = dyn_rep_losses(post.logits, prior_logits, cfg.free_nats)
    loss = rec + rew + con + cfg.dyn_scale * dyn.mean() + cfg.rep_scale * rep.mean()
    parts = {"rec": rec, "rew": rew, "con": con, "dyn": dyn.mean(), "rep": rep.mean()}
    return loss, parts, post


@dataclass(frozen=True)
class Imagined:
    """Imagined trajectories from N starts: features [N, H + 1, F], actions a_0 .. a_{H-1}
    [N, H] or [N, H, A] as the actor sampled them, rewards r_t, continue flags c_t (gamma folded in)
    and weights w_t [N, H + 1]."""

    feat: Tensor
    action: Tensor
    reward: Tensor
    cont: Tensor
    weight: Tensor


@torch.no_grad()
def imagine(model: Dreamer, start: Latent, is_terminal: Tensor, horizon: int) -> Imagined:
    """Roll the actor through the prior for ``horizon`` steps from ``start`` [N] (no gradients:
    the actor learns by REINFORCE, the critic by regression, neither through the dynamics)."""
    state, feats, actions = start, [start.features()], []
    for _ in range(horizon):
        action = model.actor.dist(feats[-1]).sample()
        actions.append(action)
        state = model.rssm.img_step(state, model.actor.to_env(action))
        feats.append(state.features())
    feat = torch.stack(feats, 1)  # [N, H + 1, F]
    reward = twohot_decode(model.reward_head(feat), model.bins)  # [N, H + 1]
    cont = torch.sigmoid(model.cont_head(feat)[..., 0])  # [N, H + 1]
    cont[:, 0] = (~is_terminal).float()  # the start's flag is known, not predicted
    cont = model.gamma * cont
    # w_t = prod_{j <= t} c_j / gamma: 1 at a live start, 0 after a predicted end
    weight = torch.cumprod(cont, 1) / model.gamma
    return Imagined(feat, torch.stack(actions, 1), reward, cont, weight)


def actor_critic_loss(
    model: Dreamer, imag: Imagined, norm: ReturnNormalizer
) -> tuple[Tensor, Tensor, dict[str, Tensor], Tensor]:
    """L_actor and L_critic on imagined trajectories; also returns the lambda-returns [N, H]."""
    cfg = model.cfg
    feat = imag.feat.detach()
    value_logits = model.critic(feat)  # [N, H + 1, K]
    value = twohot_decode(value_logits, model.bins).detach()
    ret = lambda_returns(imag.reward, imag.cont, value, cfg.return_lambda)  # [N, H]
    norm.update(ret)
    adv = (ret - value[:, :-1]) / norm.scale
    w = imag.weight[:, :-1].detach()
    dist = model.actor.dist(feat[:, :-1])
    logpi = dist.log_prob(imag.action)  # [N, H]
    entropy = dist.entropy()  # [N, H]
    actor = -(w * (logpi * adv.detach() + cfg.actor_entropy * entropy)).mean()
    slow = twohot_decode(model.slow_critic(feat[:, :-1]), model.bins).detach()
    critic = w * (
        twohot_loss(value_logits[:, :-1], ret.detach(), model.bins)
        + cfg.slow_reg * twohot_loss(value_logits[:, :-1], slow, model.bins)
    )
    parts = {
        "entropy": entropy.mean(),
        "return": ret.mean(),
        "return_scale": torch.as_tensor(norm.scale),
        "advantage": adv.abs().mean(),
    }
    return actor, critic.mean(), parts, ret


def replay_returns(batch: Batch, boot: Tensor, gamma: float, lam: float) -> Tensor:
    """Lambda-returns [B, T - 1] of replayed trajectories: the real rewards, bootstrapped at every
    step from ``boot`` [B, T], the imagined return that starts there::

        R_t = r_{t+1} + gamma (1 - term_{t+1}) ((1 - lam') boot_{t+1} + lam' R_{t+1}),  R_{T-1} = boot_{T-1}

    with lam' = lam, or 0 where o_{t+1} is the last of its episode (nothing follows it)."""
    live = (~batch.is_terminal[:, 1:]).float() * gamma  # [B, T - 1]
    cont = (~batch.is_last[:, 1:]).float() * lam
    # a successor that starts a new episode (is_first) is not a successor: no target from it
    new = (~batch.is_first[:, 1:]).float()
    live, cont = live * new, cont * new
    interm = batch.reward[:, 1:] + (1 - cont) * live * boot[:, 1:]
    rets = [boot[:, -1]]
    for t in reversed(range(interm.shape[1])):
        rets.append(interm[:, t] + live[:, t] * cont[:, t] * rets[-1])
    return torch.stack(rets[::-1][:-1], 1)


def replay_value_loss(model: Dreamer, post: Latent, batch: Batch, boot: Tensor) -> Tensor:
    """The critic on replayed trajectories [B, T] (targets from ``replay_returns``), with the
    same regulariser toward the slow critic as in imagination."""
    cfg = model.cfg
    feat = post.features().detach()
    logits = model.critic(feat[:, :-1])  # [B, T - 1, K]
    target = replay_returns(batch, boot, model.gamma, cfg.return_lambda).detach()
    slow = twohot_decode(model.slow_critic(feat[:, :-1]), model.bins).detach()
    loss = twohot_loss(logits, target, model.bins)
    return (loss + cfg.slow_reg * twohot_loss(logits, slow, model.bins)).mean()


def update(
    model: Dreamer, opt: torch.optim.Optimizer, batch: Batch, norm: ReturnNormalizer
) -> dict[str, float]:
    """One gradient step on a replayed batch: world model, then actor and critic in imagination."""
    cfg = model.cfg
    wm_loss, parts, post = world_model_loss(model, batch)
    start = Latent(*(x.detach().flatten(0, 1) for x in (post.deter, post.stoch, post.logits)))
    imag = imagine(model, start, batch.is_terminal.flatten(), cfg.imag_length)
    actor, critic, ac_parts, ret = actor_critic_loss(model, imag, norm)
    repval = replay_value_loss(model, post, batch, ret[:, 0].reshape(batch.shape))
    loss = wm_loss + actor + critic + cfg.repval_scale * repval
    opt.zero_grad()
    loss.backward()
    agc_(model.parameters(), cfg.agc)
    opt.step()
    with torch.no_grad():  # the slow critic follows the critic
        for slow, fast in zip(
            model.slow_critic.parameters(), model.critic.parameters(), strict=True
        ):
            slow.lerp_(fast, cfg.slow_critic_rate)
    out = {f"train/loss/{k}": float(v.detach()) for k, v in parts.items()}
    out.update({f"train/{k}": float(v.detach()) for k, v in ac_parts.items()})
    out.update(
        {
            "train/loss/actor": actor.item(),
            "train/loss/critic": critic.item(),
            "train/loss/repval": repval.item(),
        }
    )
    return out


# ----------------------------------------------------------------------------- acting


class Policy:
    """Acting with the posterior: one RSSM filter step and one actor sample per environment step."""

    def __init__(self, model: Dreamer, batch: int) -> None:
        self.model, self.batch = model, batch
        self.latent = model.rssm.initial(batch)
        self.prev_action = torch.zeros(batch, model.info.action_dim)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray, is_first: np.ndarray, mode: bool = False) -> Tensor:
        """Actions for observations [B, ...]; returns the model-ready action vectors [B, A]."""
        m = self.model
        embed = m.encoder(torch.as_tensor(obs))
        first = torch.as_tensor(is_first)
        self.latent, _ = m.rssm.obs_step(self.latent, self.prev_action, embed, first)
        dist = m.actor.dist(self.latent.features())
        if not mode:
            raw = dist.sample()
        elif m.info.discrete:
            raw = dist.probs.argmax(-1)  # type: ignore[attr-defined]
        else:
            raw = dist.mean
        self.prev_action = m.actor.to_env(raw)
        return self.prev_action


def _env_action(info: EnvInfo, vector: Tensor) -> Any:
    """The environment's action for a model action: an index, or [-1, 1] mapped onto the box."""
    if info.discrete:
        return int(vector.argmax())
    low, high = np.asarray(info.low), np.asarray(info.high)
    return (low + (vector.numpy() + 1) / 2 * (high - low)).astype(np.float32)


def _step_env(env: gymnasium.Env, action: Any, repeat: int) -> tuple[Any, float, bool, bool]:
    """Repeat an action; rewards add up."""
    total, term, trunc, obs = 0.0, False, False, None
    for _ in range(repeat):
        obs, r, term, trunc, _ = env.step(action)
        total += float(r)
        if term or trunc:
            break
    return obs, total, bool(term), bool(trunc)


def evaluate_returns(
    model: Dreamer, episodes: int, seed: int = EVAL_SEED, action_repeat: int = 1
) -> list[float]:
    """Returns of ``episodes`` episodes with the policy's mode, side by side; episode i uses
    seed ``seed + i``."""
    info = model.info
    envs = [make_env(info.name, pixels=info.pixels) for _ in range(episodes)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    policy = Policy(model, episodes)
    first = np.ones(episodes, bool)
    returns, done = np.zeros(episodes), np.zeros(episodes, bool)
    while not done.all():
        actions = policy(obs, first, mode=True)
        first[:] = False
        for i, env in enumerate(envs):
            if done[i]:
                continue
            o, r, term, trunc = _step_env(env, _env_action(info, actions[i]), action_repeat)
            obs[i], returns[i] = o, returns[i] + r
            done[i] = term or trunc
    for env in envs:
        env.close()
    return returns.tolist()


# ----------------------------------------------------------------------------- the run


def build(cfg: DreamerConfig, info: EnvInfo) -> tuple[Dreamer, LaProp]:
    """The agent and its optimiser."""
    model = Dreamer(cfg, info)
    params = [p for p in model.parameters() if p.requires_grad]
    return model, LaProp(params, lr=cfg.lr, eps=cfg.eps)


def _save(run: RunDir, model, opt, norm, replay, rng, steps, updates, extra) -> None:  # type: ignore[no-untyped-def]
    tensors, meta = checkpoint_state({"model": model}, {"opt": opt})
    tensors.update({f"replay.{k}": torch.as_tensor(v) for k, v in replay.arrays().items()})
    meta.update({"rng": numpy_rng_state(rng), "updates": updates, "norm": norm.state(), **extra})
    save_checkpoint(run.checkpoints / "dreamer", steps, tensors, meta, keep=1)


def train(cfg: DreamerConfig, env_name: str, run: RunDir, resume: bool = False) -> dict[str, Any]:
    """Train DreamerV3 on ``env_name``; evaluates every ``eval_every`` environment steps."""
    torch.set_num_threads(cfg.threads)
    info = env_info(env_name, cfg.pixels)
    rng = seed_everything(cfg.seed)
    model, opt = build(cfg, info)
    norm = ReturnNormalizer(rate=cfg.retnorm_rate)
    obs_dtype = np.uint8 if info.image else np.float32
    replay = StreamReplay(
        cfg.envs, cfg.replay_capacity, info.obs_shape, np.dtype(obs_dtype), (info.action_dim,)
    )
    steps = updates = 0
    wall, curve = 0.0, []
    folder = run.checkpoints / "dreamer"
    if resume and latest_checkpoint(folder) is not None:
        ckpt = load_checkpoint(folder)
        restore_state(ckpt.tensors, ckpt.meta, {"model": model}, {"opt": opt})
        replay.load({k[7:]: v.numpy() for k, v in ckpt.tensors.items() if k.startswith("replay.")})
        rng, steps, updates = restore_numpy_rng(ckpt.meta["rng"]), ckpt.step, ckpt.meta["updates"]
        norm.load(ckpt.meta["norm"])
        wall, curve = ckpt.meta["wall"], ckpt.meta["curve"]
    envs = [make_env(info.name, pixels=info.pixels) for _ in range(cfg.envs)]
    obs = np.stack([env.reset(seed=int(rng.integers(2**31)))[0] for env in envs]).astype(obs_dtype)
    first = np.ones(cfg.envs, bool)
    reward = np.zeros(cfg.envs, np.float32)
    prev = np.zeros((cfg.envs, info.action_dim), np.float32)
    policy = Policy(model, cfg.envs)
    ret, episode_returns = np.zeros(cfg.envs), []
    per_update = cfg.batch * cfg.length / cfg.train_ratio  # policy steps per gradient step
    owed, t0 = 0.0, time.time() - wall
    next_eval = (steps // cfg.eval_every + 1) * cfg.eval_every
    solved_at = None
    last_log: dict[str, float] = {}
    with MetricsLogger(run) as log, progress_bar(cfg.env_steps, f"DreamerV3 on {info.name}") as bar:
        bar.advance(steps)
        while steps < cfg.env_steps:
            # --- act: one step in every environment
            if steps < cfg.prefill:
                vectors = _random_actions(info, cfg.envs, rng)
            else:
                vectors = policy(obs, first).numpy()
            for i, env in enumerate(envs):
                replay.add(
                    i, obs=obs[i], action=prev[i], reward=reward[i], is_first=first[i],
                    is_last=False, is_terminal=False,
                )  # fmt: skip
                o, r, term, trunc = _step_env(
                    env, _env_action(info, torch.as_tensor(vectors[i])), cfg.action_repeat
                )
                ret[i] += r
                prev[i], reward[i], first[i] = vectors[i], r, False
                if term or trunc:
                    replay.add(
                        i, obs=np.asarray(o, obs_dtype), action=prev[i], reward=r, is_first=False,
                        is_last=True, is_terminal=term,
                    )  # fmt: skip
                    episode_returns.append(float(ret[i]))
                    ret[i], reward[i], prev[i], first[i] = 0.0, 0.0, 0.0, True
                    o, _ = env.reset(seed=int(rng.integers(2**31)))
                obs[i] = o
            steps += cfg.envs * cfg.action_repeat
            bar.advance(cfg.envs * cfg.action_repeat)
            # --- learn: train_ratio replayed steps per policy step, paid as they fall due
            if steps >= cfg.prefill:
                owed += cfg.envs / per_update
                while owed >= 1:
                    model.train()
                    batch = replay.sample(cfg.batch, cfg.length, rng)
                    for group in opt.param_groups:  # linear warm-up of the learning rate
                        group["lr"] = cfg.lr * min(1.0, (updates + 1) / cfg.warmup)
                    last_log = update(model, opt, batch, norm)
                    updates += 1
                    owed -= 1
                    model.eval()
            # --- log and evaluate
            if episode_returns and steps % cfg.log_every < cfg.envs * cfg.action_repeat:
                log.log(
                    steps, {"train/episode_return": float(np.mean(episode_returns)), **last_log}
                )
                bar.status(f"return {np.mean(episode_returns):.0f}")
                episode_returns = []
            if steps >= next_eval or steps >= cfg.env_steps:
                next_eval += cfg.eval_every
                returns = spread(
                    evaluate_returns(model, cfg.eval_episodes, action_repeat=cfg.action_repeat)
                )
                wall = time.time() - t0
                point = {"env_steps": steps, "updates": updates, "minutes": wall / 60,
                         "return": returns["mean"], "return_std": returns["std"]}  # fmt: skip
                curve.append(point)
                log.log(steps, {"eval/return": returns["mean"], "eval/return_std": returns["std"]})
                _save(
                    run,
                    model,
                    opt,
                    norm,
                    replay,
                    rng,
                    steps,
                    updates,
                    {"wall": wall, "curve": curve},
                )
                if cfg.stop_return and returns["mean"] >= cfg.stop_return:
                    solved_at = point
                    break
    for env in envs:
        env.close()
    summary = {"env_steps": steps, "updates": updates, "minutes": (time.time() - t0) / 60,
               "curve": curve, "solved_at": solved_at}  # fmt: skip
    atomic_write_text(run.path / "summary.json", json.dumps(summary, indent=2) + "\n")
    last = curve[-1] if curve else {}
    return {"eval/return": last.get("return"), "eval/return_std": last.get("return_std")}


def _random_actions(info: EnvInfo, n: int, rng: np.random.Generator) -> np.ndarray:
    if info.discrete:
        return np.eye(info.action_dim, dtype=np.float32)[rng.integers(0, info.action_dim, n)]
    return rng.uniform(-1, 1, (n, info.action_dim)).astype(np.float32)


def load_model(run: RunDir) -> Dreamer:
    """The run's latest agent."""
    _, saved = open_run(run.path)
    cfg = config_from_dict(DreamerConfig, saved["config"])
    model, _ = build(cfg, env_info(saved["env"], cfg.pixels))
    folder = run.checkpoints / "dreamer"
    if latest_checkpoint(folder) is None:
        raise DreamlabError(f"{run.path} has no Dreamer checkpoint yet: train it first")
    restore_state(load_checkpoint(folder).tensors, {}, {"model": model})
    return model.eval()


def evaluate(run: RunDir, episodes: int) -> dict[str, Any]:
    """``dreamlab eval RUN``: episodes with the policy's mode."""
    model = load_model(run)
    torch.set_num_threads(model.cfg.threads)
    returns = spread(evaluate_returns(model, episodes, action_repeat=model.cfg.action_repeat))
    return {"eval/return": returns["mean"], "eval/return_std": returns["std"]}
