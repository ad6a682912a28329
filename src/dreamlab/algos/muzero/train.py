"""MuZero's loop: act by batched tree search, learn from K-step unrolled targets, evaluate.

Each iteration steps ``envs`` environments with one batched search, records the moves, then takes
``replay_ratio`` gradient updates per new environment step (after ``warmup_steps``). The loss of
one sampled position t (Schrittwieser et al. 2020, Appendix G)::

    s_0 = h(o_t); for k = 1..K: s_k, r_k = g(s_{k-1} (gradient x 0.5), a_{t+k-1})
    loss = sum_k w_k [ CE(r_k, r_target) + value_weight CE(v_k, z_target) + CE(p_k, pi_target) ]

with w_0 = 1, w_k = 1/K for k >= 1, values and rewards two-hot over h(x)'s support, each position
weighted by its importance weight. Priorities are |v_0 - z_0|. With ``consistency_weight`` > 0 the
loss adds EfficientZero's term (Ye et al. 2021): sum_k w_k (-cos(P(s_k), sg(P'(h(o_{t+k}))))),
which gives g a direct target where rewards alone say little (CartPole's are all 1).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, replace
from typing import Any

import gymnasium
import numpy as np
import torch
import torch.nn.functional as F

from dreamlab.algos.muzero.config import MuZeroConfig
from dreamlab.algos.muzero.networks import MuZeroNet, scale_gradient
from dreamlab.algos.muzero.replay import (
    GameReplay,
    TargetPlan,
    permute_plan,
    replay_arrays,
    replay_from_arrays,
)
from dreamlab.envs import make_env
from dreamlab.envs.tictactoe import minimax_blunders, minimax_move, observe
from dreamlab.errors import DreamlabError
from dreamlab.eval.results import spread
from dreamlab.nn.twohot import to_two_hot, value_transform
from dreamlab.planners.mcts import SearchConfig, mcts
from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from dreamlab.train.config import config_from_dict
from dreamlab.train.files import atomic_write_text
from dreamlab.train.progress import progress_bar
from dreamlab.train.run import MetricsLogger, RunDir, open_run
from dreamlab.train.seeding import numpy_rng_state, restore_numpy_rng, seed_everything
from dreamlab.train.torch_state import checkpoint_state, restore_state

__all__ = ["evaluate", "evaluate_games", "evaluate_returns", "game_blunders", "train"]

EVAL_SEED = 1_000_000


@dataclass(frozen=True)
class EnvInfo:
    """What MuZero needs to know about an environment."""

    name: str
    obs_dim: int
    actions: int
    two_player: bool
    symmetries: np.ndarray | None = None
    """[G, A] cell permutations that leave the game unchanged (board games), or None."""


def env_info(name: str) -> EnvInfo:
    """Check that the env has vector observations and discrete actions."""
    env = make_env(name)
    obs_space, act_space = env.observation_space, env.action_space
    symmetries = getattr(env.unwrapped, "symmetries", None)
    env.close()
    if not isinstance(act_space, gymnasium.spaces.Discrete):
        raise DreamlabError(f"MuZero here needs discrete actions; {name} has {act_space}")
    if not isinstance(obs_space, gymnasium.spaces.Box) or len(obs_space.shape) != 1:
        raise DreamlabError(f"MuZero here needs vector observations; {name} has {obs_space}")
    return EnvInfo(name, int(obs_space.shape[0]), int(act_space.n), name == "tictactoe", symmetries)


def build_net(cfg: MuZeroConfig, info: EnvInfo) -> MuZeroNet:
    """The three networks for an environment."""
    return MuZeroNet(
        info.obs_dim,
        info.actions,
        cfg.hidden,
        cfg.latent,
        cfg.support,
        consistency=cfg.consistency_weight > 0,
        transformed=cfg.value_transform,
    )


def search_config(cfg: MuZeroConfig, info: EnvInfo, evaluation: bool = False) -> SearchConfig:
    """The search used to act (Gumbel noise and Dirichlet noise off when evaluating)."""
    return SearchConfig(
        simulations=cfg.eval_simulations if evaluation else cfg.simulations,
        discount=cfg.discount,
        two_player=info.two_player,
        gumbel=cfg.gumbel,
        max_considered=cfg.max_considered,
        tree_scale=cfg.tree_scale,
        c_scale=cfg.c_scale,
        gumbel_scale=0.0 if evaluation else 1.0,
        dirichlet_alpha=cfg.dirichlet_alpha,
        noise_fraction=0.0 if evaluation else cfg.noise_fraction,
    )


def _legal(info_dict: dict[str, Any], actions: int) -> np.ndarray:
    return np.asarray(info_dict.get("legal", np.ones(actions, bool)), bool)


def act(
    net: MuZeroNet,
    obs: np.ndarray,
    legal: np.ndarray,
    search: SearchConfig,
    rng: np.random.Generator,
    temperature: float,
) -> Any:
    """One batched search from observations [B, D]; returns the SearchResult."""
    with torch.no_grad():
        root, value, logits = net.root(torch.as_tensor(obs, dtype=torch.float32))
    return mcts(net, root, value, logits, search, rng, legal=legal, temperature=temperature)


# ----------------------------------------------------------------------------- learning


def _ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def value_targets(plan: TargetPlan, target_net: MuZeroNet) -> np.ndarray:
    """Complete the n-step value targets [B, K + 1] with the target network's bootstrap values."""
    boot = np.zeros(len(plan.boot_obs) + 1, np.float32)  # the extra slot serves index -1
    if len(plan.boot_obs):
        with torch.no_grad():
            _, v = target_net.predict(target_net.represent_obs(torch.as_tensor(plan.boot_obs)))
            boot[:-1] = target_net.scalar(v).numpy()
    return plan.partial + plan.boot_weight * boot[plan.boot_index]


def reanalyze_policies(
    plan: TargetPlan,
    replay: GameReplay,
    net: MuZeroNet,
    search: SearchConfig,
    share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Policy targets of the first ``share`` of the rows recomputed by a search with ``net``
    (MuZero Reanalyze): one batched search over every (row, k) with an observation."""
    policy = plan.policy.copy()
    rows = round(share * len(plan.positions))
    cells, obs, legal = [], [], []
    for row in range(rows):
        g, t = plan.positions[row]
        game = replay.games[g]
        for k in range(policy.shape[1]):
            if t + k < game.length:
                cells.append((row, k))
                obs.append(game.obs[t + k])
                legal.append(game.legal[t + k])
    if cells:
        result = act(net, np.stack(obs), np.stack(legal), search, rng, 1.0)
        for (row, k), p in zip(cells, result.policy, strict=True):
            policy[row, k] = p
    return policy


def learn(
    net: MuZeroNet,
    target_net: MuZeroNet,
    opt: torch.optim.Optimizer,
    plan: TargetPlan,
    policy: np.ndarray,
    cfg: MuZeroConfig,
) -> tuple[dict[str, float], np.ndarray]:
    """One gradient step on a batch; returns the losses and new priorities [B]."""
    z = torch.as_tensor(value_targets(plan, target_net))  # [B, K + 1]
    h = value_transform if cfg.value_transform else (lambda x: x)
    value_target = to_two_hot(h(z), cfg.support)
    reward_target = to_two_hot(h(torch.as_tensor(plan.reward)), cfg.support)
    pol_t = torch.as_tensor(policy)
    vmask, rmask = torch.as_tensor(plan.value_mask), torch.as_tensor(plan.reward_mask)
    pmask = torch.as_tensor(plan.policy_mask)
    actions = torch.as_tensor(plan.actions)
    s = net.represent_obs(torch.as_tensor(plan.obs))
    logits, v = net.predict(s)
    first_value = net.scalar(v.detach())
    lv = _ce(v, value_target[:, 0]) * vmask[:, 0]
    lp = _ce(logits, pol_t[:, 0]) * pmask[:, 0]
    lr = torch.zeros_like(lv)
    lc = torch.zeros_like(lv)
    if cfg.consistency_weight > 0:
        b, k_, d = plan.next_obs.shape
        with torch.no_grad():
            seen = net.represent_obs(torch.as_tensor(plan.next_obs).reshape(b * k_, d))
            seen = seen.reshape(b, k_, -1)  # [B, K, latent]
        seen_mask = torch.as_tensor(plan.next_obs_mask)
    for k in range(1, cfg.unroll + 1):
        s, r = net.recurrent(scale_gradient(s, 0.5), actions[:, k - 1])
        logits, v = net.predict(s)
        w = 1.0 / cfg.unroll
        lv = lv + w * _ce(v, value_target[:, k]) * vmask[:, k]
        lp = lp + w * _ce(logits, pol_t[:, k]) * pmask[:, k]
        lr = lr + w * _ce(r, reward_target[:, k]) * rmask[:, k]
        if cfg.consistency_weight > 0:
            term = net.consistency_loss(s, seen[:, k - 1]) * seen_mask[:, k - 1]
            lc = lc + w * term
    per_row = lr + cfg.value_weight * lv + lp + cfg.consistency_weight * lc
    loss = (per_row * torch.as_tensor(plan.weights)).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
    opt.step()
    priorities = (first_value - z[:, 0]).abs().numpy()
    w = plan.weights.astype(np.float64)
    losses = {
        "train/loss": loss.item(),
        "train/value": lv.mean().item(),
        "train/policy": lp.mean().item(),
        "train/reward": lr.mean().item(),
        "train/consistency": lc.mean().item(),
        # Kish's effective sample size of the importance weights: with prioritised replay a few
        # low-priority rows can carry almost all of a batch's weight.
        "train/effective_batch": float(w.sum() ** 2 / (w**2).sum()),
    }
    return losses, priorities


# ----------------------------------------------------------------------------- evaluation


def evaluate_returns(
    net: MuZeroNet, cfg: MuZeroConfig, info: EnvInfo, episodes: int, seed: int = EVAL_SEED
) -> list[float]:
    """Returns of ``episodes`` greedy episodes (search without noise, most visited / halving's
    pick), all played side by side; episode i uses seed ``seed + i``."""
    envs = [make_env(info.name) for _ in range(episodes)]
    search = search_config(cfg, info, evaluation=True)
    rng = np.random.default_rng(seed)
    obs, legal = [], []
    for i, env in enumerate(envs):
        o, inf = env.reset(seed=seed + i)
        obs.append(o)
        legal.append(_legal(inf, info.actions))
    returns = np.zeros(episodes)
    live = list(range(episodes))
    while live:
        result = act(
            net,
            np.stack([obs[i] for i in live]),
            np.stack([legal[i] for i in live]),
            search,
            rng,
            0.0,
        )
        still = []
        for i, a in zip(live, result.action, strict=True):
            o, r, term, trunc, inf = envs[i].step(int(a))
            returns[i] += r
            obs[i], legal[i] = o, _legal(inf, info.actions)
            if not (term or trunc):
                still.append(i)
        live = still
    for env in envs:
        env.close()
    return returns.tolist()


def evaluate_games(
    net: MuZeroNet,
    cfg: MuZeroConfig,
    info: EnvInfo,
    games: int,
    opponent: str,
    seed: int = EVAL_SEED,
) -> dict[str, Any]:
    """Tic-tac-toe against ``"minimax"`` (exact, random among optimal moves) or ``"random"``:
    ``games`` games as X and ``games`` as O; wins, draws and losses from the agent's side."""
    from dreamlab.envs.tictactoe import TicTacToe

    search = search_config(cfg, info, evaluation=True)
    rng = np.random.default_rng(seed)
    tally = {"win": 0, "draw": 0, "loss": 0}
    for side in (0, 1):
        for _ in range(games):
            env = TicTacToe()
            obs, inf = env.reset()
            while True:
                if inf["to_play"] == side:
                    a = int(act(net, obs[None], inf["legal"][None], search, rng, 0.0).action[0])
                elif opponent == "minimax":
                    a = minimax_move(env.board, rng)
                else:
                    a = int(rng.choice(np.flatnonzero(inf["legal"])))
                mover = inf["to_play"]
                obs, r, term, _, inf = env.step(a)
                if term:
                    key = "draw" if r == 0 else ("win" if mover == side else "loss")
                    tally[key] += 1
                    break
    return {**tally, "games": 2 * games}


def game_blunders(
    net: MuZeroNet, cfg: MuZeroConfig, info: EnvInfo
) -> list[tuple[tuple[int, ...], int]]:
    """Tic-tac-toe: every position where the greedy search (as in ``evaluate_games``) gives away
    value on some line an exact player with any of its optimal moves can reach (``[]``: it never
    loses to minimax). The search is deterministic without noise, so one move per position."""
    search = search_config(cfg, info, evaluation=True)
    rng = np.random.default_rng(EVAL_SEED)

    def policy(board: tuple[int, ...]) -> int:
        legal = np.asarray(board) == 0
        return int(act(net, observe(board)[None], legal[None], search, rng, 0.0).action[0])

    return minimax_blunders(policy)


# ----------------------------------------------------------------------------- the run


def _temperature(cfg: MuZeroConfig, steps: int) -> float:
    frac = steps / max(cfg.env_steps, 1)
    temps = cfg.temperatures
    return temps[0] if frac < 0.5 else temps[min(1, len(temps) - 1)] if frac < 0.75 else temps[-1]


def _save(run: RunDir, net, target_net, opt, replay, rng, steps, updates, extra) -> None:  # type: ignore[no-untyped-def]
    tensors, meta = checkpoint_state({"net": net, "target": target_net}, {"opt": opt})
    flat = replay_arrays(replay)
    tensors.update({f"replay.{k}": torch.as_tensor(v) for k, v in flat.items()})
    meta.update({"rng": numpy_rng_state(rng), "updates": updates, **extra})
    save_checkpoint(run.checkpoints / "muzero", steps, tensors, meta, keep=1)


def train(cfg: MuZeroConfig, env_name: str, run: RunDir, resume: bool = False) -> dict[str, Any]:
    """Train MuZero on ``env_name``; evaluates every ``eval_every`` environment steps."""
    torch.set_num_threads(cfg.threads)
    info = env_info(env_name)
    if cfg.augment_symmetries and info.symmetries is None:
        raise DreamlabError(
            f"augment_symmetries needs a board game with symmetries; {env_name} has none"
        )
    rng = seed_everything(cfg.seed)
    net = build_net(cfg, info)
    target_net = copy.deepcopy(net)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    replay = GameReplay(info.actions, cfg.priority_alpha, cfg.replay_positions)
    steps = updates = 0
    wall = 0.0
    curve: list[dict[str, float]] = []
    folder = run.checkpoints / "muzero"
    if resume and latest_checkpoint(folder) is not None:
        ckpt = load_checkpoint(folder)
        restore_state(ckpt.tensors, ckpt.meta, {"net": net, "target": target_net}, {"opt": opt})
        flat = {k[7:]: v.numpy() for k, v in ckpt.tensors.items() if k.startswith("replay.")}
        replay = replay_from_arrays(flat, info.actions, cfg.priority_alpha, cfg.replay_positions)
        rng, steps, updates = restore_numpy_rng(ckpt.meta["rng"]), ckpt.step, ckpt.meta["updates"]
        wall, curve = ckpt.meta["wall"], ckpt.meta["curve"]
    search = search_config(cfg, info)
    envs = [make_env(info.name) for _ in range(cfg.envs)]
    obs, legal, game = [], [], []
    for env in envs:
        o, inf = env.reset(seed=int(rng.integers(2**31)))
        obs.append(o)
        legal.append(_legal(inf, info.actions))
        game.append(replay.new_game(o, legal[-1]))
    episode_returns: list[float] = []
    ret = np.zeros(cfg.envs)
    moves = np.zeros(cfg.envs, np.int64)  # moves made in each env's current game
    owed, t0 = 0.0, time.time() - wall
    next_eval = (steps // cfg.eval_every + 1) * cfg.eval_every
    solved_at: dict[str, float] | None = None
    with MetricsLogger(run) as log, progress_bar(cfg.env_steps, f"MuZero on {info.name}") as bar:
        bar.advance(steps)
        while steps < cfg.env_steps:
            net.eval()
            result = act(net, np.stack(obs), np.stack(legal), search, rng, _temperature(cfg, steps))
            for i, env in enumerate(envs):
                a = int(result.action[i])
                if moves[i] < cfg.random_opening:  # explore openings the policy stopped playing
                    a = int(rng.choice(np.flatnonzero(legal[i])))
                moves[i] += 1
                o, r, term, trunc, inf = env.step(a)
                lg = _legal(inf, info.actions)
                replay.add(
                    game[i], action=a, reward=float(r), obs=o, legal=lg,
                    policy=result.policy[i], value=float(result.value[i]),
                    terminal=bool(term), truncated=bool(trunc),
                )  # fmt: skip
                ret[i] += r
                if term or trunc:
                    episode_returns.append(float(ret[i]))
                    ret[i] = moves[i] = 0
                    o, inf = env.reset(seed=int(rng.integers(2**31)))
                    lg = _legal(inf, info.actions)
                    game[i] = replay.new_game(o, lg)
                obs[i], legal[i] = o, lg
            steps += cfg.envs
            bar.advance(cfg.envs)
            if steps >= cfg.warmup_steps:
                owed += cfg.replay_ratio * cfg.envs
                net.train()
                for group in opt.param_groups:  # exponential decay over the run
                    group["lr"] = cfg.lr * cfg.lr_decay ** min(1.0, steps / cfg.env_steps)
                while owed >= 1:
                    plan = replay.sample(
                        cfg.batch, cfg.unroll, cfg.td_steps, cfg.discount, info.two_player,
                        cfg.priority_beta, rng,
                    )  # fmt: skip
                    policy = plan.policy
                    if cfg.reanalyze > 0:
                        net.eval()
                        policy = reanalyze_policies(plan, replay, net, search, cfg.reanalyze, rng)
                        net.train()
                    if cfg.augment_symmetries:
                        plan, policy = permute_plan(plan, policy, info.symmetries, rng)
                    losses, prio = learn(net, target_net, opt, plan, policy, cfg)
                    replay.update_priorities(plan.positions, prio)
                    updates += 1
                    owed -= 1
                    if updates % cfg.target_every == 0:
                        target_net.load_state_dict(net.state_dict())
                    if updates % 50 == 0:
                        log.log(steps, losses)
            if episode_returns:
                log.log(steps, {"train/episode_return": float(np.mean(episode_returns))})
                bar.status(f"return {np.mean(episode_returns):.0f}")
                episode_returns = []
            if steps >= next_eval or steps >= cfg.env_steps:
                next_eval += cfg.eval_every
                net.eval()
                scores = _evaluation(net, cfg, info)
                wall = time.time() - t0
                point = {"env_steps": steps, "minutes": wall / 60, **scores}
                curve.append(point)
                log.log(steps, {f"eval/{k}": v for k, v in scores.items()})
                _save(
                    run,
                    net,
                    target_net,
                    opt,
                    replay,
                    rng,
                    steps,
                    updates,
                    {"wall": wall, "curve": curve},
                )
                if cfg.stop_return and scores.get("return", -np.inf) >= cfg.stop_return:
                    solved_at = point
                    break
    for env in envs:
        env.close()
    summary = {
        "env_steps": steps,
        "updates": updates,
        "minutes": (time.time() - t0) / 60,
        "curve": curve,
        "solved_at": solved_at,
    }
    atomic_write_text(run.path / "summary.json", json.dumps(summary, indent=2) + "\n")
    last = curve[-1] if curve else {}
    return {f"eval/{k}": v for k, v in last.items() if k not in ("env_steps", "minutes")}


def _evaluation(net: MuZeroNet, cfg: MuZeroConfig, info: EnvInfo) -> dict[str, float]:
    if info.two_player:
        vs_random = evaluate_games(net, cfg, info, cfg.eval_episodes // 2, "random")
        vs_minimax = evaluate_games(net, cfg, info, cfg.eval_episodes // 2, "minimax")
        return {
            "win_rate_vs_random": vs_random["win"] / vs_random["games"],
            "losses_vs_minimax": float(vs_minimax["loss"]),
            "minimax_blunders": float(len(game_blunders(net, cfg, info))),
        }
    returns = spread(evaluate_returns(net, cfg, info, cfg.eval_episodes))
    return {"return": returns["mean"], "return_std": returns["std"]}


def load_net(run: RunDir) -> tuple[MuZeroNet, MuZeroConfig, EnvInfo]:
    """The run's latest network, config and environment."""
    _, saved = open_run(run.path)
    cfg = config_from_dict(MuZeroConfig, saved["config"])
    info = env_info(saved["env"])
    net = build_net(cfg, info)
    folder = run.checkpoints / "muzero"
    if latest_checkpoint(folder) is None:
        raise DreamlabError(f"{run.path} has no MuZero checkpoint yet: train it first")
    ckpt = load_checkpoint(folder)
    restore_state(ckpt.tensors, ckpt.meta, {"net": net})
    return net.eval(), cfg, info


def evaluate(run: RunDir, episodes: int) -> dict[str, Any]:
    """``dreamlab eval RUN``: greedy episodes (or games against minimax and random)."""
    net, cfg, info = load_net(run)
    torch.set_num_threads(cfg.threads)
    return {
        f"eval/{k}": v
        for k, v in _evaluation(net, replace(cfg, eval_episodes=episodes), info).items()
    }
