"""Controllers in the real environment: many games side by side, their frames through V as one batch.

At every frame t of every game:  z_t = mu of V(o_t);  a_t = C([z_t, (c_t,) h_t]);  the env steps
with a_t;  (h_{t+1}, c_{t+1}) = LSTM([z_t, a_t], (h_t, c_t)).  V's mean is used (no sampling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
from torch import Tensor

from dreamlab.algos.ha_world_models.config import HaConfig
from dreamlab.algos.ha_world_models.dream import controller_act
from dreamlab.algos.ha_world_models.model import MDNRNN, ConvVAE, controller_features
from dreamlab.data.episodes import Episode, EpisodeBuilder
from dreamlab.envs import make_env
from dreamlab.envs.pixels import resize_frame
from dreamlab.errors import DreamlabError

__all__ = ["Frames64", "Game", "env_action", "make_game", "real_returns", "to_unit_frames"]


def to_unit_frames(frames: np.ndarray) -> Tensor:
    """uint8 frames [B, 64, 64, 3] -> float [B, 3, 64, 64] in [0, 1]."""
    # Contiguous NCHW: a channels-last view sends the convolutions to kernels that are not
    # bit-reproducible from run to run.
    return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().float().div_(255.0)


def env_action(action: np.ndarray, space: gymnasium.Space) -> np.ndarray:
    """C's tanh output -> the env's action. CarRacing as in the paper: steer a0, gas (a1 + 1) / 2,
    brake max(a2, 0); other envs take it as it is."""
    if isinstance(space, gymnasium.spaces.Box) and space.shape == (3,) and space.low[1] == 0:
        return np.array([action[0], (action[1] + 1) / 2, max(action[2], 0.0)], dtype=np.float32)
    return np.asarray(action, dtype=np.float32)


class Frames64(gymnasium.ObservationWrapper[np.ndarray, Any, np.ndarray]):
    """CarRacing's 96x96 frame without its bottom 12-row dashboard, resized to 64x64 (the paper's input)."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self.observation_space = gymnasium.spaces.Box(0, 255, (64, 64, 3), dtype=np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Crop the dashboard, resize to 64x64."""
        return resize_frame(observation[:84], 64)


def make_game(env_name: str, cfg: HaConfig) -> gymnasium.Env:
    """The real environment with 64x64 uint8 frames: DoomTakeCover capped at ``max_frames``, or a
    gymnasium image env (CarRacing-v3) with its frames cropped and resized."""
    if env_name == "DoomTakeCover":
        return make_env(env_name, max_frames=cfg.max_frames)
    env = make_env(env_name)
    shape = env.observation_space.shape
    if shape is None or len(shape) != 3:
        env.close()
        raise DreamlabError(f"World Models needs an image environment; {env_name} observes {shape}")
    return Frames64(env)


@dataclass
class Game:
    """One game in flight: which candidate and trial it plays, its env, frame and score so far;
    when recording, its episode so far and the generator of its action noise."""

    candidate: int
    trial: int
    env: gymnasium.Env
    frame: np.ndarray
    score: float = 0.0
    builder: EpisodeBuilder | None = None
    noise: np.random.Generator | None = None


def real_returns(
    new_env: Callable[[], gymnasium.Env],
    vae: ConvVAE,
    rnn: MDNRNN,
    params: Tensor,
    seeds: list[int],
    cfg: HaConfig,
    parallel: int = 16,
    max_frames: int | None = None,
    noise: float = 0.0,
    episodes: dict[tuple[int, int], Episode] | None = None,
) -> np.ndarray:
    """Play P controllers ([P, n] flat parameters) on the episodes ``seeds``: returns [P, N] scores.

    Up to ``parallel`` games run at once; a finished game's env is reused for the next episode.
    An episode ends when the env says so or after ``max_frames`` (default ``cfg.max_frames``).
    ``noise`` > 0 adds N(0, noise) to every action (clipped to [-1, 1]), drawn from a generator
    seeded by the episode's seed; ``episodes``, if given, receives every game as an Episode under
    (candidate, trial).
    """
    p, n = params.shape[0], len(seeds)
    cap = max_frames or cfg.max_frames
    todo = [(i, j) for i in range(p) for j in range(n)]  # (candidate, trial), played in this order
    scores = np.zeros((p, n))
    envs = [new_env() for _ in range(min(parallel, len(todo)))]
    games: list[Game] = []
    idle = list(envs)
    hs = cfg.rnn_hidden
    h = torch.zeros(0, hs)
    c = torch.zeros(0, hs)
    steps = np.zeros(0, dtype=np.int64)
    with torch.no_grad():
        while todo or games:
            while todo and idle:  # start new episodes on free envs
                i, j = todo.pop(0)
                env = idle.pop()
                frame, _ = env.reset(seed=seeds[j])
                game = Game(i, j, env, frame)
                if episodes is not None:
                    game.builder = EpisodeBuilder(env.action_space)
                    game.builder.start(frame)
                if noise > 0:
                    game.noise = np.random.default_rng(seeds[j])
                games.append(game)
                h = torch.cat([h, torch.zeros(1, hs)])
                c = torch.cat([c, torch.zeros(1, hs)])
                steps = np.append(steps, 0)
            frames = np.stack([g.frame for g in games])  # [G, 64, 64, 3]
            z, _ = vae.encode(to_unit_frames(frames))  # [G, Z]
            owners = torch.tensor([g.candidate for g in games])
            features = controller_features(z, h, c, cfg).unsqueeze(1)  # [G, 1, D]
            action = controller_act(params[owners], features, cfg)[:, 0]  # [G, A]
            if noise > 0:
                eps = np.stack([g.noise.normal(0, noise, action.shape[1]) for g in games])  # type: ignore[union-attr]
                action = (action + torch.as_tensor(eps, dtype=action.dtype)).clamp(-1, 1)
            _, (h1, c1) = rnn(z.unsqueeze(1), action.unsqueeze(1), (h.unsqueeze(0), c.unsqueeze(0)))
            h, c = h1[0], c1[0]
            keep = []
            for k, game in enumerate(games):
                act = env_action(action[k].numpy(), game.env.action_space)
                game.frame, reward, terminated, truncated, _ = game.env.step(act)
                game.score += float(reward)
                steps[k] += 1
                if game.builder is not None:
                    game.builder.add(
                        action[k].numpy(), game.frame, float(reward), terminated, truncated
                    )
                if terminated or truncated or steps[k] >= cap:
                    scores[game.candidate, game.trial] = game.score
                    idle.append(game.env)
                    if game.builder is not None and episodes is not None:
                        episodes[(game.candidate, game.trial)] = game.builder.finish()
                else:
                    keep.append(k)
            games = [games[k] for k in keep]
            index = torch.tensor(keep, dtype=torch.long)
            h, c, steps = h[index], c[index], steps[keep]
    for env in envs:
        env.close()
    return scores
