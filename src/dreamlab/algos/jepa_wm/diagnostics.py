"""Why a Two-Rooms world model plans well or badly, in two measurements.

- ``state_probe``: how precisely an encoder's embedding holds each factor of the true state (dot
  x and y, wall x, door y), as the held-out error in pixels of an MLP probe. A factor the
  embedding does not hold cannot be imagined: a predictor that does not know where the door is
  cannot tell a plan through it from a plan into the wall.
- ``perfect_imagination_episodes``: the benchmark's planning episodes with the model's predictor
  replaced by the true dynamics. States still carry the model's own embedding (of the frame the
  true position renders to) and the cost is the same embedding distance to the goal, so the
  success rate bounds what the model's cost landscape and the planner can reach; the gap to
  ``plan_episodes`` is the predictor's.

Both read the true state, so neither is a planning result: they are diagnostics beside one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dreamlab.algos.jepa_wm.config import JEPAWMConfig
from dreamlab.algos.jepa_wm.model import JEPAWorldModel
from dreamlab.algos.jepa_wm.train import make_planner, play_episode
from dreamlab.envs.two_rooms import (
    IMAGE_SIZE,
    TwoRoomsEnv,
    WallSpec,
    generate_two_rooms,
    render_two_rooms,
    two_rooms_step,
)
from dreamlab.errors import DreamlabError
from dreamlab.planners.common import ActionSpec
from dreamlab.planners.mpc import MPCAgent
from dreamlab.planners.objectives import goal_objective
from dreamlab.types import State, StepOut

__all__ = ["FACTORS", "StateProbe", "TrueDynamics", "perfect_imagination_episodes", "state_probe"]

FACTORS = ("dot_x", "dot_y", "wall_x", "door_y")
"""The true state of a Two-Rooms frame, in pixels."""


@dataclass(frozen=True)
class StateProbe:
    """Held-out RMSE in pixels of a probe per factor, and each factor's spread (its std): a
    probe that learned nothing scores about the spread."""

    rmse: dict[str, float]
    spread: dict[str, float]


def state_probe(
    encode: Callable[[Tensor], Tensor],
    obs_mode: str = "2ch",
    samples: int = 4000,
    steps: int = 2000,
    seed: int = 0,
) -> StateProbe:
    """Fit an MLP (two hidden layers of 256) from embeddings to the four factors of the state on
    3/4 of ``samples`` random-wall frames and report its error on the rest.

    ``encode`` maps uint8 frames as the environment gives them [N, ...] to embeddings [N, D].
    """
    if samples < 8:
        raise DreamlabError(f"state_probe needs at least 8 samples, got {samples}")
    data = generate_two_rooms(samples, 2, random_wall=True, obs_mode=obs_mode, seed=seed)
    frames = torch.from_numpy(data.obs[:, -1])
    with torch.no_grad():
        e = torch.cat([encode(frames[i : i + 500]).float() for i in range(0, samples, 500)])
    y = torch.from_numpy(np.concatenate([data.positions[:, -1], data.walls], axis=1)).float()
    n_train = samples * 3 // 4
    mean, std = y[:n_train].mean(0), y[:n_train].std(0).clamp(min=1e-6)
    target = (y - mean) / std  # [N, 4], each factor in units of its spread
    e_mean, e_std = e[:n_train].mean(0), e[:n_train].std(0).clamp(min=1e-6)
    x = (e - e_mean) / e_std
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        probe = nn.Sequential(
            nn.Linear(x.shape[1], 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 4)
        )
    opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
    for _ in range(steps):
        idx = torch.randint(n_train, (min(256, n_train),), generator=gen)
        loss = (probe(x[idx]) - target[idx]).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = probe(x[n_train:]) * std + mean  # [N_test, 4] in pixels
    rmse = (pred - y[n_train:]).square().mean(0).sqrt()
    return StateProbe(
        rmse={f: float(v) for f, v in zip(FACTORS, rmse, strict=True)},
        spread={f: float(v) for f, v in zip(FACTORS, std, strict=True)},
    )


class TrueDynamics:
    """A WorldModel for one episode's wall that moves the dot by the true dynamics and describes
    each state by ``encode``'s embedding of its frame.

    Embeddings are precomputed on the 1-pixel grid of positions 0..64 and interpolated
    bilinearly (exact at whole pixels), so an imagined step costs no encoder call. ``State.z`` is
    the embedding [B, D]; ``extras["pos"]`` the position [B, 2]. ``initial`` starts every state at
    ``start`` (the episode's true position, which the caller keeps current with ``set_start``).
    """

    def __init__(self, encode: Callable[[Tensor], Tensor], wall: Any, obs_mode: str) -> None:
        self.wall = torch.as_tensor(np.asarray(wall), dtype=torch.float32).reshape(1, 2)
        side = torch.arange(IMAGE_SIZE, dtype=torch.float32)
        xx, yy = torch.meshgrid(side, side, indexing="ij")
        grid = torch.stack([xx.flatten(), yy.flatten()], dim=1)  # [65 * 65, 2]
        with torch.no_grad():
            frames = render_two_rooms(grid, self._walls(len(grid)), obs_mode)
            emb = torch.cat([encode(frames[i : i + 1024]) for i in range(0, len(grid), 1024)])
        self.grid = emb.reshape(IMAGE_SIZE, IMAGE_SIZE, -1)  # [x, y, D]
        self.start = torch.zeros(2)

    def _walls(self, n: int) -> WallSpec:
        return WallSpec.from_tensor(self.wall.expand(n, 2))

    def set_start(self, pos: Any) -> None:
        """The true position that ``initial`` starts from."""
        self.start = torch.as_tensor(np.asarray(pos), dtype=torch.float32).reshape(2)

    def embed(self, pos: Tensor) -> Tensor:
        """Positions [B, 2] -> embeddings [B, D], bilinear between whole pixels."""
        p = pos.clamp(0, IMAGE_SIZE - 1 - 1e-4)
        i = p.floor().long()
        f = p - i
        x0, y0, fx, fy = i[:, 0], i[:, 1], f[:, :1], f[:, 1:]
        g = self.grid
        return (
            g[x0, y0] * (1 - fx) * (1 - fy)
            + g[x0 + 1, y0] * fx * (1 - fy)
            + g[x0, y0 + 1] * (1 - fx) * fy
            + g[x0 + 1, y0 + 1] * fx * fy
        )

    def eval(self) -> TrueDynamics:
        return self

    def initial(self, obs: Tensor) -> State:
        """States at the current true position, one per frame of ``obs`` [B, ...]."""
        pos = self.start.expand(obs.shape[0], 2).clone()
        return State(z=self.embed(pos), extras={"pos": pos})

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """The true next position for actions [B, 2] and its embedding; reward 0, cont 1."""
        pos = state.extras["pos"]
        nxt = two_rooms_step(pos, action.to(pos.dtype), self._walls(len(pos)))
        zeros = torch.zeros(len(pos))
        return State(z=self.embed(nxt), extras={"pos": nxt}), StepOut(reward=zeros, cont=zeros + 1)

    def observe(self, state: State, action: Tensor, obs: Tensor) -> State:
        return self.initial(obs)


def perfect_imagination_episodes(
    model: JEPAWorldModel, cfg: JEPAWMConfig, episodes: int, seed: int
) -> dict[str, float]:
    """``plan_episodes``'s episodes (random wall, the same seeds, planner and embedding cost)
    planned with ``TrueDynamics`` in place of the predictor: ``success_rate``,
    ``plan_seconds_per_episode`` and ``episodes``."""
    if not isinstance(model, JEPAWorldModel):
        raise DreamlabError("perfect imagination needs an EB-JEPA model (its cost is embeddings)")
    if episodes < 1:
        raise DreamlabError(f"perfect imagination needs at least one episode, got {episodes}")
    model.eval()
    env = TwoRoomsEnv(random_wall=True, obs_mode=cfg.obs_mode, max_steps=cfg.max_episode_steps)
    spec = ActionSpec.from_space(env.action_space)
    successes, seconds = [], []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        truth = TrueDynamics(model.encode, env.wall, cfg.obs_mode)
        with torch.no_grad():
            goal = model.encode(torch.as_tensor(np.asarray(info["goal_obs"])).unsqueeze(0))[0]
        agent = MPCAgent(
            model=truth,  # type: ignore[arg-type]
            planner=make_planner(cfg, torch.Generator().manual_seed(seed + i)),
            horizon=cfg.plan_horizon,
            spec=spec,
            objective=goal_objective(goal, reduce=cfg.plan_cost, features=lambda s: s.z),
            replan_every=cfg.replan_every,
        )
        # the imagined rollouts start wherever the dot really is
        success, spent, _, _ = play_episode(
            env, agent, obs, lambda t=truth: t.set_start(env.position)
        )
        successes.append(success)
        seconds.append(spent)
    env.close()
    return {
        "success_rate": float(np.mean(successes)),
        "plan_seconds_per_episode": float(np.mean(seconds)),
        "episodes": float(episodes),
    }
