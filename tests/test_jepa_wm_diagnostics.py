"""Diagnostics of a Two-Rooms world model: the state probe finds exactly the factors an embedding
holds, and perfect imagination is the true dynamics under the model's own embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from dreamlab.algos.jepa_wm.config import PRESETS
from dreamlab.algos.jepa_wm.diagnostics import (
    TrueDynamics,
    perfect_imagination_episodes,
    state_probe,
)
from dreamlab.algos.jepa_wm.train import build_model
from dreamlab.envs.two_rooms import TwoRoomsEnv, WallSpec, render_two_rooms
from dreamlab.errors import DreamlabError

pytestmark = pytest.mark.usefixtures("one_thread")


def dot_centroid(frames: Tensor) -> Tensor:
    """An 'encoder' that keeps the dot and nothing else: the centroid of the dot channel [N, 2]."""
    w = frames[:, 0].float()  # [N, 65, 65]
    idx = torch.arange(w.shape[-1], dtype=torch.float32)
    mass = w.sum(dim=(1, 2)).clamp(min=1e-6)
    rows = (w.sum(dim=2) * idx).sum(dim=1) / mass
    cols = (w.sum(dim=1) * idx).sum(dim=1) / mass
    return torch.stack([rows, cols], dim=1)


def test_the_probe_finds_the_dot_and_misses_the_wall_an_embedding_does_not_hold() -> None:
    probe = state_probe(dot_centroid, samples=1200, steps=800)
    assert probe.rmse["dot_x"] < 1.5 and probe.rmse["dot_y"] < 1.5, probe
    # Wall and door are independent of the dot's position: nothing to find, the spread remains.
    for factor in ("wall_x", "door_y"):
        assert probe.rmse[factor] > 0.7 * probe.spread[factor], probe


def test_the_probe_rejects_too_few_samples() -> None:
    with pytest.raises(DreamlabError, match="at least 8"):
        state_probe(dot_centroid, samples=4)


def test_true_dynamics_moves_like_the_environment_and_embeds_whole_pixels_exactly() -> None:
    model = build_model(PRESETS["debug"])
    model.eval()
    env = TwoRoomsEnv(random_wall=True, obs_mode="2ch", max_steps=50)
    obs, _ = env.reset(seed=3)
    truth = TrueDynamics(model.encode, env.wall, "2ch")
    truth.set_start(env.position)
    state = truth.initial(torch.as_tensor(obs)[None])
    rng = np.random.default_rng(0)
    for _ in range(30):
        a = rng.uniform(-1, 1, size=2).astype(np.float32)
        state, _ = truth.step(state, torch.as_tensor(a)[None])
        env.step(a)
        assert np.array_equal(state.extras["pos"][0].numpy(), env.position)
    whole = torch.tensor([[10.0, 20.0], [40.0, 33.0]])
    wall = torch.as_tensor(env.wall, dtype=torch.float32)[None].expand(2, 2)
    with torch.no_grad():
        direct = model.encode(render_two_rooms(whole, WallSpec.from_tensor(wall), "2ch"))
    assert torch.allclose(truth.embed(whole), direct, atol=1e-5)


def test_perfect_imagination_plans_the_benchmark_episodes_and_needs_an_embedding_model() -> None:
    cfg = PRESETS["debug"]
    out = perfect_imagination_episodes(build_model(cfg), cfg, episodes=2, seed=1_000_000)  # type: ignore[arg-type]
    assert out["episodes"] == 2 and 0.0 <= out["success_rate"] <= 1.0
    assert out["plan_seconds_per_episode"] > 0
    with pytest.raises(DreamlabError, match="EB-JEPA"):
        perfect_imagination_episodes(build_model(PRESETS["debug-pixel"]), cfg, 1, 0)  # type: ignore[arg-type]
