"""MuZero's replay: games with their search statistics, prioritized positions, K-step targets.

A game of length L holds observations o_0 .. o_L, actions a_0 .. a_{L-1}, rewards r_1 .. r_L,
and the search's policy and value at each of o_0 .. o_{L-1}. Games still being played are in the
buffer too (their positions are sampled as soon as they exist): their last observation is treated
like a time limit, a point to bootstrap from.

Value target of position i (n = ``td_steps``, players alternate when ``two_player``)::

    z_i = sum_{j < n} gamma^j sign_j r_{i+j+1} + gamma^n sign_n v(o_{i+n})

with sign_j = (-1)^j for two players (a reward belongs to the player who moved) and +1 otherwise;
v is the target network's value of the observation (value reanalysis), and the sum stops at a
terminal observation. Past a terminal observation the game is absorbing: value and reward 0, no
policy loss. Past the end of a game that is not over, nothing is known: those steps are masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Game",
    "GameReplay",
    "TargetPlan",
    "permute_plan",
    "replay_arrays",
    "replay_from_arrays",
]


class Game:
    """One game's arrays, grown as it is played."""

    def __init__(self, obs0: np.ndarray, actions: int, legal0: np.ndarray) -> None:
        self.obs = [np.asarray(obs0, np.float32)]
        self.legal = [np.asarray(legal0, bool)]
        self.action: list[int] = []
        self.reward: list[float] = []
        self.policy: list[np.ndarray] = []
        self.value: list[float] = []
        self.terminal = False
        self.over = False
        self.actions = actions

    @property
    def length(self) -> int:
        """L, the number of moves made."""
        return len(self.action)

    def add(
        self,
        action: int,
        reward: float,
        obs: np.ndarray,
        legal: np.ndarray,
        policy: np.ndarray,
        value: float,
        terminal: bool,
        truncated: bool,
    ) -> None:
        """Record a move from the last observation: the search's policy and value there, the
        action, the reward and the observation it led to."""
        self.policy.append(np.asarray(policy, np.float32))
        self.value.append(float(value))
        self.action.append(int(action))
        self.reward.append(float(reward))
        self.obs.append(np.asarray(obs, np.float32))
        self.legal.append(np.asarray(legal, bool))
        self.terminal = terminal
        self.over = terminal or truncated

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The game as arrays (for checkpoints)."""
        return {
            "obs": np.stack(self.obs),
            "legal": np.stack(self.legal),
            "action": np.asarray(self.action, np.int64),
            "reward": np.asarray(self.reward, np.float32),
            "policy": np.stack(self.policy)
            if self.policy
            else np.zeros((0, self.actions), np.float32),
            "value": np.asarray(self.value, np.float32),
            "flags": np.asarray([self.terminal, self.over]),
        }

    @staticmethod
    def from_arrays(a: dict[str, np.ndarray]) -> Game:
        """Inverse of ``to_arrays``."""
        g = Game(a["obs"][0], a["policy"].shape[1], a["legal"][0])
        g.obs, g.legal = list(a["obs"]), list(a["legal"])
        g.action, g.reward = a["action"].tolist(), a["reward"].tolist()
        g.policy, g.value = list(a["policy"]), a["value"].tolist()
        g.terminal, g.over = bool(a["flags"][0]), bool(a["flags"][1])
        return g


@dataclass(frozen=True)
class TargetPlan:
    """What a batch of B positions needs, with K unroll steps (arrays [B, K + 1] unless noted).

    ``boot_obs`` [M, D] are the observations whose target-network value completes the value
    targets: ``value = partial + boot_weight * v(boot_obs[boot_index])`` (boot_index -1: none).
    """

    obs: np.ndarray  # [B, D] o_t
    next_obs: np.ndarray  # [B, K, D] o_{t+k} for k = 1..K (zeros where the game has none)
    next_obs_mask: np.ndarray  # [B, K]
    actions: np.ndarray  # [B, K]
    partial: np.ndarray  # reward part of the value targets
    boot_weight: np.ndarray
    boot_index: np.ndarray
    boot_obs: np.ndarray  # [M, D]
    value_mask: np.ndarray
    reward: np.ndarray  # r_{t+k} for k >= 1 (column 0 unused)
    reward_mask: np.ndarray
    policy: np.ndarray  # [B, K + 1, A]
    policy_mask: np.ndarray
    positions: list[tuple[int, int]]  # (game, t) per row, for priorities and reanalysis
    weights: np.ndarray  # [B] importance weights


class GameReplay:
    """Games and a priority per position; ``sample`` returns a TargetPlan."""

    def __init__(self, actions: int, alpha: float = 1.0, capacity: int = 1_000_000) -> None:
        self.games: list[Game] = []
        self.priority: list[list[float]] = []
        self.actions, self.alpha, self.capacity = actions, alpha, capacity
        self.max_priority = 1.0

    def new_game(self, obs0: np.ndarray, legal0: np.ndarray) -> int:
        """Start a game; returns its index."""
        self.games.append(Game(obs0, self.actions, legal0))
        self.priority.append([])
        return len(self.games) - 1

    def add(self, game: int, **move: object) -> None:
        """Record a move of a game (see ``Game.add``); the new position gets the top priority."""
        self.games[game].add(**move)  # type: ignore[arg-type]
        self.priority[game].append(self.max_priority)

    @property
    def positions(self) -> int:
        """Positions stored (moves of all games)."""
        return sum(len(p) for p in self.priority)

    def update_priorities(self, positions: list[tuple[int, int]], values: np.ndarray) -> None:
        """New priorities (|search or predicted value - target| + eps) for sampled positions."""
        for (g, t), v in zip(positions, values, strict=True):
            self.priority[g][t] = float(v) + 1e-6
            self.max_priority = max(self.max_priority, float(v) + 1e-6)

    def sample(
        self,
        batch: int,
        unroll: int,
        td_steps: int,
        discount: float,
        two_player: bool,
        beta: float,
        rng: np.random.Generator,
    ) -> TargetPlan:
        """Draw B positions with probability p_i^alpha / sum p^alpha and build their targets.

        Only the newest games holding at most ``capacity`` positions are drawn from (always at
        least the newest game): older games stay stored but no longer train the network."""
        first, held = len(self.priority) - 1, len(self.priority[-1])
        while first > 0 and held + len(self.priority[first - 1]) <= self.capacity:
            first -= 1
            held += len(self.priority[first])
        live = range(first, len(self.priority))
        owner = np.concatenate([np.full(len(self.priority[g]), g) for g in live])
        step = np.concatenate([np.arange(len(self.priority[g])) for g in live])
        p = np.concatenate([np.asarray(self.priority[g]) for g in live]) ** self.alpha
        p = p / p.sum()
        pick = rng.choice(len(p), size=batch, p=p)
        weights = (len(p) * p[pick]) ** (-beta)
        weights = weights / weights.max()
        k1, n_actions = unroll + 1, self.actions
        obs = np.stack([self.games[owner[i]].obs[step[i]] for i in pick])
        next_obs = np.zeros((batch, unroll, obs.shape[1]), np.float32)
        next_obs_mask = np.zeros((batch, unroll), np.float32)
        actions = rng.integers(0, n_actions, (batch, unroll))
        partial = np.zeros((batch, k1), np.float32)
        boot_weight = np.zeros((batch, k1), np.float32)
        boot_index = np.full((batch, k1), -1, np.int64)
        value_mask = np.zeros((batch, k1), np.float32)
        reward = np.zeros((batch, k1), np.float32)
        reward_mask = np.zeros((batch, k1), np.float32)
        policy = np.zeros((batch, k1, n_actions), np.float32)
        policy_mask = np.zeros((batch, k1), np.float32)
        boot_obs: list[np.ndarray] = []
        positions = []
        for row, i in enumerate(pick):
            game, t = self.games[owner[i]], int(step[i])
            positions.append((int(owner[i]), t))
            length = game.length
            for k in range(k1):
                idx = t + k
                if k < unroll and idx < length:
                    actions[row, k] = game.action[idx]
                if k >= 1 and idx <= length:
                    next_obs[row, k - 1], next_obs_mask[row, k - 1] = game.obs[idx], 1.0
                if k >= 1:
                    if idx - 1 < length:
                        reward[row, k], reward_mask[row, k] = game.reward[idx - 1], 1.0
                    elif game.terminal:
                        reward_mask[row, k] = 1.0  # absorbing: 0
                if idx < length:
                    policy[row, k], policy_mask[row, k] = game.policy[idx], 1.0
                elif idx == length and game.terminal:
                    value_mask[row, k] = 1.0  # a terminal observation is worth 0
                    continue
                elif idx > length and game.terminal:
                    value_mask[row, k] = 1.0
                    continue
                if idx >= length:
                    continue  # past the end of an unfinished game: unknown
                value_mask[row, k] = 1.0
                end = min(idx + td_steps, length)
                total, scale = 0.0, 1.0
                for j in range(idx, end):
                    sign = -1.0 if two_player and (j - idx) % 2 == 1 else 1.0
                    total += scale * sign * game.reward[j]
                    scale *= discount
                partial[row, k] = total
                if end < length or not game.terminal:
                    # bootstrap from o_end (a cut n steps on, or the last observation so far)
                    sign = -1.0 if two_player and (end - idx) % 2 == 1 else 1.0
                    boot_weight[row, k] = scale * sign
                    boot_index[row, k] = len(boot_obs)
                    boot_obs.append(game.obs[end])
        return TargetPlan(
            obs=obs,
            next_obs=next_obs,
            next_obs_mask=next_obs_mask,
            actions=actions,
            partial=partial,
            boot_weight=boot_weight,
            boot_index=boot_index,
            boot_obs=np.stack(boot_obs) if boot_obs else np.zeros((0, obs.shape[1]), np.float32),
            value_mask=value_mask,
            reward=reward,
            reward_mask=reward_mask,
            policy=policy,
            policy_mask=policy_mask,
            positions=positions,
            weights=weights.astype(np.float32),
        )


def permute_plan(
    plan: TargetPlan, policy: np.ndarray, perms: np.ndarray, rng: np.random.Generator
) -> tuple[TargetPlan, np.ndarray]:
    """Each row of a batch seen under one random symmetry of a board game (data augmentation).

    ``perms`` [G, A] are cell permutations (new cell i holds old cell ``perm[i]``); observations
    are planes of A cells, actions and policies are cells too. Values and rewards are unchanged,
    and so are the bootstrap observations, whose value a symmetry does not change.
    """
    b, a = len(policy), policy.shape[-1]
    pick = perms[rng.integers(0, len(perms), b)]  # [B, A]
    inverse = np.argsort(pick, axis=1)  # old cell -> new cell
    planes = plan.obs.shape[1] // a

    def cells(x: np.ndarray) -> np.ndarray:  # [B, ..., planes * A], each row its own symmetry
        lead = x.shape[1:-1]
        x = x.reshape(b, -1, planes, a)  # [B, N, planes, A]
        idx = np.broadcast_to(pick[:, None, None, :], x.shape)
        return np.take_along_axis(x, idx, axis=-1).reshape(b, *lead, planes * a)

    obs = cells(plan.obs[:, None])[:, 0]
    actions = np.take_along_axis(inverse, plan.actions, axis=1)
    moved = np.take_along_axis(policy, np.broadcast_to(pick[:, None, :], policy.shape), axis=2)
    out = TargetPlan(
        **{
            **plan.__dict__,
            "obs": obs,
            "next_obs": cells(plan.next_obs),
            "actions": actions,
            "policy": np.take_along_axis(
                plan.policy, np.broadcast_to(pick[:, None, :], plan.policy.shape), axis=2
            ),
        }
    )
    return out, moved


def replay_arrays(replay: GameReplay) -> dict[str, np.ndarray]:
    """The finished games and priorities as flat arrays (unfinished games are dropped: a resumed
    run starts fresh episodes)."""
    games = [(g, p) for g, p in zip(replay.games, replay.priority, strict=True) if g.over]
    out: dict[str, np.ndarray] = {"lengths": np.asarray([g.length for g, _ in games], np.int64)}
    if not games:
        return out
    parts = [g.to_arrays() for g, _ in games]
    for key in parts[0]:
        out[key] = np.concatenate([p[key] for p in parts])
    out["priority"] = np.concatenate([np.asarray(p, np.float64) for _, p in games])
    return out


def replay_from_arrays(
    flat: dict[str, np.ndarray], actions: int, alpha: float, capacity: int = 1_000_000
) -> GameReplay:
    """Inverse of ``replay_arrays``."""
    replay = GameReplay(actions, alpha, capacity)
    o = m = 0
    for i, length in enumerate(flat["lengths"].tolist()):
        arrays = {
            "obs": flat["obs"][o : o + length + 1],
            "legal": flat["legal"][o : o + length + 1],
            "action": flat["action"][m : m + length],
            "reward": flat["reward"][m : m + length],
            "policy": flat["policy"][m : m + length],
            "value": flat["value"][m : m + length],
            "flags": flat["flags"][2 * i : 2 * i + 2],
        }
        replay.games.append(Game.from_arrays(arrays))
        replay.priority.append(flat["priority"][m : m + length].tolist())
        o, m = o + length + 1, m + length
    if replay.priority:
        replay.max_priority = max(max(p) for p in replay.priority if p)
    return replay
