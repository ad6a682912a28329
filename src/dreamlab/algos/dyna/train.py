"""Dyna: integrated learning, planning and acting (Sutton 1990, 1991; Sutton & Barto 2nd ed., ch. 8).

The book's Tabular Dyna-Q box, step by step, and where each step lives here:

    Initialize Q(s, a) and Model(s, a) for all s, a                      -> new_agent
    Loop forever:
      (a) S <- current (nonterminal) state                                -> run_episodes
      (b) A <- epsilon-greedy(S, Q)                                       -> act
      (c) Take action A; observe reward R and state S'                    -> run_episodes (env.step)
      (d) Q(S,A) <- Q(S,A) + alpha [R + gamma max_a Q(S',a) - Q(S,A)]     -> q_update
      (e) Model(S,A) <- R, S'  (deterministic environment)                -> learn_model
      (f) Loop repeat n times:                                            -> plan_dyna_q
            S <- random previously observed state
            A <- random action previously taken in S
            R, S' <- Model(S, A)
            Q(S,A) <- Q(S,A) + alpha [R + gamma max_a Q(S',a) - Q(S,A)]

Dyna-Q+ (section 8.3) plans with the reward R + kappa sqrt(tau), tau the number of real steps since
(S, A) was last tried, and lets planning try actions never taken, modelled as self-loops with reward 0.

Prioritized sweeping (section 8.4 box) replaces (d) and (f): the real transition's |TD error| puts
(S, A) in a priority queue; planning pops the most urgent pair, updates it, and queues every pair
predicted to lead into S whose own |TD error| exceeds theta.    -> learn_model, plan_prioritized

Deliberate choices, all as the book describes them: greedy ties are broken at random; acting and
planning draw from separate random streams, so with Q still zero the first episode is identical for
every n; an update into a terminal state does not bootstrap.

The learned table is exposed as a WorldModel by ``learned_model`` (see model.py).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dreamlab.algos.dyna.config import DynaConfig
from dreamlab.algos.dyna.model import TabularModel
from dreamlab.envs import make_env, transition_table
from dreamlab.errors import DreamlabError
from dreamlab.train.checkpoint import load_checkpoint, save_checkpoint
from dreamlab.train.progress import progress_bar
from dreamlab.train.run import MetricsLogger, RunDir, open_run, truncate_metrics
from dreamlab.train.seeding import (
    numpy_rng_state,
    python_rng_state,
    restore_numpy_rng,
    restore_python_rng,
)

__all__ = [
    "DynaAgent",
    "DynaHistory",
    "act",
    "evaluate",
    "greedy_episode",
    "greedy_path_length",
    "learned_model",
    "new_agent",
    "plan",
    "policy",
    "q_update",
    "run_episodes",
    "train",
]


# ----------------------------------------------------------------------------------------------
# The agent's tables. Plain Python lists: tabular updates are scalar work, where lists beat numpy.
# ----------------------------------------------------------------------------------------------


@dataclass
class DynaAgent:
    """Everything Dyna learns and carries between steps (mutable; one per run)."""

    num_states: int
    num_actions: int
    q: list[list[float]]  # Q(s, a)
    model_next: list[list[int]]  # Model(s, a) -> s'; -1 where the pair was never modelled
    model_reward: list[list[float]]  # Model(s, a) -> r
    model_terminal: list[list[bool]]  # whether s' ended the episode
    last_tried: list[list[int]]  # real time step at which (s, a) was last taken (Dyna-Q+'s tau)
    observed_states: list[int]  # in order of first visit: planning samples from this list
    observed_actions: list[list[int]]  # per state, actions modelled, in order of first use
    predecessors: list[list[tuple[int, int]]]  # prioritized sweeping: pairs predicted to lead to s
    queue: list[tuple[float, int, int, int]] = field(default_factory=list)  # (-P, order, s, a) heap
    queued: dict[tuple[int, int], float] = field(default_factory=dict)  # live priority per pair
    time: int = 0  # real steps taken
    updates: int = 0  # Q updates made, real and simulated
    queue_order: int = 0  # tie-breaker: equal priorities leave the queue first in, first out
    act_rng: random.Random = field(default_factory=random.Random)
    plan_rng: random.Random = field(default_factory=random.Random)


def new_agent(num_states: int, num_actions: int, seed: int) -> DynaAgent:
    """Q = 0 and an empty model for every pair; acting and planning get separate random streams."""
    act_seed, plan_seed = np.random.SeedSequence(seed).generate_state(2)
    num_states, num_actions = int(num_states), int(num_actions)  # gymnasium's n is a numpy integer
    return DynaAgent(
        num_states=num_states,
        num_actions=num_actions,
        q=[[0.0] * num_actions for _ in range(num_states)],
        model_next=[[-1] * num_actions for _ in range(num_states)],
        model_reward=[[0.0] * num_actions for _ in range(num_states)],
        model_terminal=[[False] * num_actions for _ in range(num_states)],
        last_tried=[[0] * num_actions for _ in range(num_states)],
        observed_states=[],
        observed_actions=[[] for _ in range(num_states)],
        predecessors=[[] for _ in range(num_states)],
        act_rng=random.Random(int(act_seed)),
        plan_rng=random.Random(int(plan_seed)),
    )


# ----------------------------------------------------------------------------------------------
# (b) acting, (d) direct RL, (e) model learning
# ----------------------------------------------------------------------------------------------


def greedy(q_row: list[float], rng: random.Random) -> int:
    """argmax_a Q(s, a) with ties broken uniformly at random."""
    best = max(q_row)
    ties = [a for a, v in enumerate(q_row) if v == best]
    return ties[0] if len(ties) == 1 else ties[rng.randrange(len(ties))]


def act(agent: DynaAgent, s: int, epsilon: float) -> int:
    """(b) epsilon-greedy with respect to Q."""
    rng = agent.act_rng
    if rng.random() < epsilon:
        return rng.randrange(agent.num_actions)
    return greedy(agent.q[s], rng)


def td_error(
    agent: DynaAgent, s: int, a: int, r: float, s2: int, terminal: bool, gamma: float
) -> float:
    """R + gamma max_a Q(S', a) - Q(S, A); no bootstrap from a terminal S'."""
    target = r if terminal else r + gamma * max(agent.q[s2])
    return target - agent.q[s][a]


def q_update(
    agent: DynaAgent, s: int, a: int, r: float, s2: int, terminal: bool, alpha: float, gamma: float
) -> None:
    """(d) and (f): one-step tabular Q-learning, from real or simulated experience alike."""
    agent.q[s][a] += alpha * td_error(agent, s, a, r, s2, terminal, gamma)
    agent.updates += 1


def learn_model(
    agent: DynaAgent, s: int, a: int, r: float, s2: int, terminal: bool, cfg: DynaConfig
) -> None:
    """(e) Model(S, A) <- R, S' and the bookkeeping that planning samples from."""
    if not agent.observed_actions[s]:
        agent.observed_states.append(s)
        if cfg.variant == "dyna_q_plus":
            # Dyna-Q+ lets planning consider every action of a visited state: untried ones are
            # modelled as leading back to the same state with reward 0.
            for b in range(agent.num_actions):
                agent.model_next[s][b] = s
                agent.observed_actions[s].append(b)
    if a not in agent.observed_actions[s]:
        agent.observed_actions[s].append(a)
    previous = agent.model_next[s][a]
    if previous != s2 and (s, a) not in agent.predecessors[s2]:
        agent.predecessors[s2].append((s, a))
    if previous not in (-1, s2):
        # The world changed: (s, a) no longer leads to `previous`.
        agent.predecessors[previous] = [p for p in agent.predecessors[previous] if p != (s, a)]
    agent.model_next[s][a] = s2
    agent.model_reward[s][a] = r
    agent.model_terminal[s][a] = terminal
    agent.last_tried[s][a] = agent.time


# ----------------------------------------------------------------------------------------------
# (f) planning
# ----------------------------------------------------------------------------------------------


def plan_dyna_q(agent: DynaAgent, cfg: DynaConfig) -> None:
    """(f) n simulated one-step updates from uniformly chosen previously observed (S, A)."""
    rng = agent.plan_rng
    states, actions = agent.observed_states, agent.observed_actions
    bonus = cfg.variant == "dyna_q_plus"
    for _ in range(cfg.planning_steps):
        s = states[rng.randrange(len(states))]
        tried = actions[s]
        a = tried[rng.randrange(len(tried))]
        r = agent.model_reward[s][a]
        if bonus:
            r += cfg.kappa * math.sqrt(agent.time - agent.last_tried[s][a])
        q_update(
            agent, s, a, r, agent.model_next[s][a], agent.model_terminal[s][a], cfg.alpha, cfg.gamma
        )


def _enqueue(agent: DynaAgent, s: int, a: int, priority: float, theta: float) -> None:
    """Insert (s, a) with priority P if P > theta; a pair already queued keeps the higher priority."""
    if priority <= theta or agent.queued.get((s, a), -1.0) >= priority:
        return
    agent.queued[(s, a)] = priority
    agent.queue_order += 1
    heapq.heappush(agent.queue, (-priority, agent.queue_order, s, a))


def _pop(agent: DynaAgent) -> tuple[int, int] | None:
    """The most urgent queued pair, skipping entries superseded by a higher priority."""
    while agent.queue:
        neg_p, _, s, a = heapq.heappop(agent.queue)
        if agent.queued.get((s, a)) == -neg_p:
            del agent.queued[(s, a)]
            return s, a
    return None


def plan_prioritized(agent: DynaAgent, cfg: DynaConfig) -> None:
    """Prioritized sweeping's planning loop: n updates, most urgent first, sweeping backwards."""
    g = cfg.gamma
    for _ in range(cfg.planning_steps):
        pair = _pop(agent)
        if pair is None:
            break
        s, a = pair
        q_update(
            agent,
            s,
            a,
            agent.model_reward[s][a],
            agent.model_next[s][a],
            agent.model_terminal[s][a],
            cfg.alpha,
            g,
        )
        best_s = max(agent.q[s])
        for sp, ap in agent.predecessors[s]:
            r = agent.model_reward[sp][ap]
            target = r if agent.model_terminal[sp][ap] else r + g * best_s
            _enqueue(agent, sp, ap, abs(target - agent.q[sp][ap]), cfg.theta)


def plan(agent: DynaAgent, cfg: DynaConfig) -> None:
    """(f) for the configured variant."""
    if cfg.variant == "prioritized_sweeping":
        plan_prioritized(agent, cfg)
    else:
        plan_dyna_q(agent, cfg)


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------


@dataclass
class DynaHistory:
    """What a run produced, episode by episode and step by step."""

    episode_steps: list[int] = field(default_factory=list)  # real steps of each finished episode
    episode_updates: list[int] = field(
        default_factory=list
    )  # cumulative Q updates at each episode end
    step_rewards: list[float] = field(
        default_factory=list
    )  # reward of every real step (Fig 8.4/8.5)

    def cumulative_reward(self) -> np.ndarray:
        """Cumulative reward after each real step [T]."""
        return np.cumsum(np.asarray(self.step_rewards, dtype=np.float64))


def _state_index(obs: Any) -> int:
    return int(np.asarray(obs).item())


def run_episodes(
    agent: DynaAgent,
    env: Any,
    cfg: DynaConfig,
    history: DynaHistory,
    on_episode_end: Callable[[DynaAgent, DynaHistory], bool] | None = None,
) -> DynaHistory:
    """Run Dyna in ``env`` until cfg.episodes episodes or cfg.max_steps real steps are done.

    Continues from ``history`` (so a resumed run picks up where it stopped). ``on_episode_end`` is
    called after every finished episode and may return True to stop early.
    """
    prioritized = cfg.variant == "prioritized_sweeping"
    while len(history.episode_steps) < cfg.episodes:
        obs, _ = env.reset()
        s = _state_index(obs)
        steps = 0
        done = False
        while not done:
            if cfg.max_steps and agent.time >= cfg.max_steps:
                return history
            a = act(agent, s, cfg.epsilon)  # (b)
            obs, r, terminated, truncated, _ = env.step(a)  # (c)
            s2, r = _state_index(obs), float(r)
            agent.time += 1
            steps += 1
            history.step_rewards.append(r)
            if prioritized:
                learn_model(agent, s, a, r, s2, terminated, cfg)
                _enqueue(
                    agent, s, a, abs(td_error(agent, s, a, r, s2, terminated, cfg.gamma)), cfg.theta
                )
            else:
                q_update(agent, s, a, r, s2, terminated, cfg.alpha, cfg.gamma)  # (d)
                learn_model(agent, s, a, r, s2, terminated, cfg)  # (e)
            plan(agent, cfg)  # (f)
            s = s2
            done = terminated or truncated
        history.episode_steps.append(steps)
        history.episode_updates.append(agent.updates)
        if on_episode_end is not None and on_episode_end(agent, history):
            break
    return history


def greedy_episode(agent: DynaAgent, env: Any, limit: int = 1000) -> tuple[float, int, bool]:
    """One episode of the purely greedy policy (first-index ties): (return, steps, ended).

    It steps ``env`` itself, so pass an env whose world clock does not matter.
    """
    obs, _ = env.reset()
    s, ret = _state_index(obs), 0.0
    for step in range(1, limit + 1):
        row = agent.q[s]
        obs, r, terminated, truncated, _ = env.step(row.index(max(row)))
        s, ret = _state_index(obs), ret + float(r)
        if terminated or truncated:
            return ret, step, True
    return ret, limit, False


def greedy_path_length(agent: DynaAgent, env: Any, limit: int = 1000) -> int | None:
    """Steps the greedy policy takes from the start to the end of an episode (None: not within limit)."""
    _, steps, ended = greedy_episode(agent, env, limit)
    return steps if ended else None


def learned_model(agent: DynaAgent) -> TabularModel:
    """The learned table as a WorldModel."""
    nxt = torch.tensor(agent.model_next, dtype=torch.long)
    known = nxt >= 0
    return TabularModel(
        next_state=torch.where(known, nxt, torch.arange(agent.num_states).unsqueeze(1)),
        reward=torch.tensor(agent.model_reward, dtype=torch.float64),
        terminal=torch.tensor(agent.model_terminal, dtype=torch.bool),
        known=known,
    )


# ----------------------------------------------------------------------------------------------
# Checkpoints: every list becomes a tensor, every random stream and counter JSON.
# ----------------------------------------------------------------------------------------------


def agent_to_checkpoint(
    agent: DynaAgent, history: DynaHistory
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The agent and its history as safetensors tensors plus JSON metadata (exactly restorable)."""
    s_count, a_count = agent.num_states, agent.num_actions
    order = torch.full((s_count, a_count), -1, dtype=torch.long)
    for s, acts in enumerate(agent.observed_actions):
        order[s, : len(acts)] = torch.tensor(acts, dtype=torch.long)
    preds = [(s2, sp, ap) for s2, lst in enumerate(agent.predecessors) for sp, ap in lst]
    tensors = {
        "q": torch.tensor(agent.q, dtype=torch.float64),
        "model_next": torch.tensor(agent.model_next, dtype=torch.long),
        "model_reward": torch.tensor(agent.model_reward, dtype=torch.float64),
        "model_terminal": torch.tensor(agent.model_terminal, dtype=torch.bool),
        "last_tried": torch.tensor(agent.last_tried, dtype=torch.long),
        "observed_states": torch.tensor(agent.observed_states, dtype=torch.long).reshape(-1),
        "observed_actions": order,
        "predecessors": torch.tensor(preds, dtype=torch.long).reshape(-1, 3),
        "queue": torch.tensor([list(e) for e in agent.queue], dtype=torch.float64).reshape(-1, 4),
        "episode_steps": torch.tensor(history.episode_steps, dtype=torch.long).reshape(-1),
        "episode_updates": torch.tensor(history.episode_updates, dtype=torch.long).reshape(-1),
        "step_rewards": torch.tensor(history.step_rewards, dtype=torch.float64).reshape(-1),
    }
    meta = {
        "num_states": s_count,
        "num_actions": a_count,
        "time": agent.time,
        "updates": agent.updates,
        "queue_order": agent.queue_order,
        "queued": [[s, a, p] for (s, a), p in agent.queued.items()],
        "act_rng": python_rng_state(agent.act_rng),
        "plan_rng": python_rng_state(agent.plan_rng),
    }
    return tensors, meta


def agent_from_checkpoint(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> tuple[DynaAgent, DynaHistory]:
    """Inverse of ``agent_to_checkpoint``."""
    s_count, a_count = int(meta["num_states"]), int(meta["num_actions"])
    agent = new_agent(s_count, a_count, seed=0)
    agent.q = tensors["q"].tolist()
    agent.model_next = tensors["model_next"].tolist()
    agent.model_reward = tensors["model_reward"].tolist()
    agent.model_terminal = tensors["model_terminal"].tolist()
    agent.last_tried = tensors["last_tried"].tolist()
    agent.observed_states = tensors["observed_states"].tolist()
    agent.observed_actions = [
        [a for a in row if a >= 0] for row in tensors["observed_actions"].tolist()
    ]
    for s2, sp, ap in tensors["predecessors"].tolist():
        agent.predecessors[s2].append((sp, ap))
    agent.queue = [(p, int(o), int(s), int(a)) for p, o, s, a in tensors["queue"].tolist()]
    agent.queued = {(int(s), int(a)): float(p) for s, a, p in meta["queued"]}
    agent.time, agent.updates, agent.queue_order = (
        int(meta["time"]),
        int(meta["updates"]),
        int(meta["queue_order"]),
    )
    agent.act_rng = restore_python_rng(meta["act_rng"])
    agent.plan_rng = restore_python_rng(meta["plan_rng"])
    history = DynaHistory(
        episode_steps=tensors["episode_steps"].tolist(),
        episode_updates=tensors["episode_updates"].tolist(),
        step_rewards=tensors["step_rewards"].tolist(),
    )
    return agent, history


# ----------------------------------------------------------------------------------------------
# A run: environment, checkpoints, metrics, progress.
# ----------------------------------------------------------------------------------------------


def make_tabular_env(env_name: str) -> Any:
    """The environment, checked to be tabular (discrete observations and actions)."""
    env = make_env(env_name)
    if not (hasattr(env.observation_space, "n") and hasattr(env.action_space, "n")):
        env.close()
        raise DreamlabError(
            f"dyna is tabular: environment '{env_name}' must have Discrete observations and actions, "
            f"it has {env.observation_space} and {env.action_space}"
        )
    return env


def set_env_clock(env: Any, total_steps: int) -> None:
    """Put a changing maze's world clock where the run left it (other envs have no clock)."""
    if hasattr(env.unwrapped, "set_total_steps"):
        env.unwrapped.set_total_steps(total_steps)


def summarize(agent: DynaAgent, history: DynaHistory) -> dict[str, Any]:
    """The numbers a person wants after a run."""
    steps = history.episode_steps
    return {
        "episodes": len(steps),
        "env_steps": agent.time,
        "updates": agent.updates,
        "episode_steps": steps,
        "last_10_mean_steps": float(np.mean(steps[-10:])) if steps else float("nan"),
        "total_reward": float(sum(history.step_rewards)),
    }


def train(cfg: DynaConfig, env_name: str, run: RunDir, resume: bool = False) -> dict[str, Any]:
    """Run Dyna in a run directory: metrics.jsonl and TensorBoard per episode, checkpoints, resume.

    A resumed run restores the agent, its random streams, its history and the world clock from the
    last checkpoint, drops metrics logged after it, and ends exactly as an uninterrupted run would.
    """
    env = make_tabular_env(env_name)
    env.reset(seed=cfg.seed)
    if resume:
        ckpt = load_checkpoint(run.checkpoints)
        agent, history = agent_from_checkpoint(ckpt.tensors, ckpt.meta)
        truncate_metrics(run, ckpt.step)
        if ckpt.meta.get("finished"):
            env.close()
            return summarize(agent, history)
        # A stochastic env (FrozenLake) continues its own random stream too.
        env.unwrapped.np_random = restore_numpy_rng(ckpt.meta["env_rng"])
    else:
        agent = new_agent(env.observation_space.n, env.action_space.n, cfg.seed)
        history = DynaHistory()
    set_env_clock(env, agent.time)

    def save(finished: bool) -> None:
        tensors, meta = agent_to_checkpoint(agent, history)
        meta |= {"finished": finished, "env_rng": numpy_rng_state(env.unwrapped.np_random)}
        save_checkpoint(run.checkpoints, agent.time, tensors, meta)

    by_steps = cfg.max_steps > 0
    total = cfg.max_steps if by_steps else cfg.episodes
    with (
        MetricsLogger(run) as logger,
        progress_bar(total, f"dyna {cfg.variant} n={cfg.planning_steps}") as bar,
    ):
        bar.advance(agent.time if by_steps else len(history.episode_steps))

        def on_episode_end(agent: DynaAgent, history: DynaHistory) -> bool:
            episode = len(history.episode_steps)
            steps = history.episode_steps[-1]
            logger.log(
                agent.time,
                {
                    "train/episode": episode,
                    "train/episode_steps": steps,
                    "train/updates": agent.updates,
                    "train/return": history.step_rewards[-1],
                },
            )
            bar.advance(steps if by_steps else 1)
            bar.status(f"episode {episode}: {steps} steps")
            if episode % cfg.checkpoint_every == 0:
                save(finished=False)
            return False

        run_episodes(agent, env, cfg, history, on_episode_end)
        save(finished=True)
    env.close()
    return summarize(agent, history)


def evaluate(run: RunDir, episodes: int) -> dict[str, Any]:
    """Greedy episodes with the learned Q; in a maze, also how well the learned model matches the truth."""
    _, saved = open_run(run.path)
    ckpt = load_checkpoint(run.checkpoints)
    agent, _ = agent_from_checkpoint(ckpt.tensors, ckpt.meta)
    env = make_tabular_env(saved["env"])
    set_env_clock(env, agent.time)
    episodes_out = [greedy_episode(agent, env) for _ in range(episodes)]
    returns = [ret for ret, _, _ in episodes_out]
    metrics: dict[str, Any] = {
        "eval/episodes": episodes,
        "eval/return": float(np.mean(returns)),
        "eval/return_std": float(np.std(returns)),
        "eval/steps": float(np.mean([steps for _, steps, _ in episodes_out])),
        "eval/ended_fraction": float(np.mean([ended for _, _, ended in episodes_out])),
    }
    layout = getattr(env.unwrapped, "layout", None)
    if layout is not None:
        nxt, rew, term = transition_table(layout)
        truth = TabularModel(
            torch.from_numpy(nxt).long(),
            torch.from_numpy(rew).double(),
            torch.from_numpy(term),
            torch.ones(nxt.shape, dtype=torch.bool),
        )
        metrics["eval/shortest_path"] = layout.shortest_path_length()
        metrics["eval/model_agreement"] = learned_model(agent).agreement(truth)
    env.close()
    return metrics


def policy(run: RunDir) -> Callable[[Any, Any], int]:
    """The greedy policy of a trained run, for ``dreamlab collect --policy RUN``."""
    ckpt = load_checkpoint(run.checkpoints)
    agent, _ = agent_from_checkpoint(ckpt.tensors, ckpt.meta)

    def act_greedy(obs: Any, rng: Any) -> int:
        row = agent.q[_state_index(obs)]
        return row.index(max(row))

    return act_greedy
