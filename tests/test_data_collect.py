"""collect(): real gymnasium environments written to an episode store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest

from dreamlab.data import EpisodeStore, ReplayBuffer, collect
from dreamlab.envs import PixelObservation
from dreamlab.errors import DreamlabError


class Recorder(gymnasium.Wrapper):
    """Remembers what the environment returned, episode by episode."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self.episodes: list[dict[str, Any]] = []

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        self.episodes.append({"obs": [obs], "rewards": [], "terminated": False, "truncated": False})
        return obs, info

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        record = self.episodes[-1]
        record["obs"].append(obs)
        record["rewards"].append(float(reward))
        record["terminated"], record["truncated"] = terminated, truncated
        return obs, reward, terminated, truncated, info


def test_collect_writes_what_the_env_returned(tmp_path: Path) -> None:
    env = Recorder(gymnasium.make("CartPole-v1"))
    store = EpisodeStore.create(
        tmp_path,
        "CartPole-v1",
        observation_space=env.observation_space,
        action_space=env.action_space,
    )
    stats = collect(env, 4, store, seed=0, progress=False)

    stored = list(EpisodeStore(tmp_path))  # flushed: a fresh reader sees everything
    assert len(stored) == 4 == stats["episodes"]
    assert stats["steps"] == sum(ep.steps for ep in stored) == EpisodeStore(tmp_path).num_steps
    assert stats["mean_return"] == pytest.approx(np.mean([sum(r["rewards"]) for r in env.episodes]))
    assert stats["seconds"] > 0
    for episode, record in zip(stored, env.episodes, strict=True):
        assert episode.steps == len(record["rewards"])
        np.testing.assert_allclose(episode.reward[1:], record["rewards"])
        np.testing.assert_array_equal(episode.obs, np.stack(record["obs"]))
        assert episode.obs.dtype == np.float32
        assert episode.action.dtype == np.int64 and set(episode.action[1:].tolist()) <= {0, 1}
        assert episode.is_last[-1] and not episode.is_last[:-1].any()
        assert episode.is_terminal[-1] == record["terminated"]
    assert "Discrete(2)" in str(EpisodeStore(tmp_path).action_space)


def test_same_seed_gives_identical_stores(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> list[dict[str, np.ndarray]]:
        with EpisodeStore.create(tmp_path / name, "FrozenLake-v1") as store:
            collect(gymnasium.make("FrozenLake-v1"), 6, store, seed=seed, progress=False)
        return [ep.arrays() for ep in EpisodeStore(tmp_path / name)]

    a, b, c = run("a", 3), run("b", 3), run("c", 4)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for name in x:
            np.testing.assert_array_equal(x[name], y[name])
    assert any(
        len(x["obs"]) != len(y["obs"]) or not np.array_equal(x["obs"], y["obs"])
        for x, y in zip(a, c, strict=False)
    )


def test_discrete_observations_and_max_steps(tmp_path: Path) -> None:
    env = Recorder(gymnasium.make("FrozenLake-v1"))
    with EpisodeStore.create(tmp_path, "FrozenLake-v1") as store:
        stats = collect(env, 8, store, seed=1, max_steps=3, progress=False)
    stored = list(EpisodeStore(tmp_path))
    assert stats["steps"] == sum(ep.steps for ep in stored)
    for episode, record in zip(stored, env.episodes, strict=True):
        assert episode.obs.dtype == np.int64 and episode.obs.shape == (len(episode),)
        assert 1 <= episode.steps <= 3
        assert episode.is_last[-1]
        # Cut by max_steps means not terminal, unless the env itself terminated on that step.
        assert episode.is_terminal[-1] == record["terminated"]
    assert any(ep.steps == 3 and not ep.is_terminal[-1] for ep in stored)


def test_policy_and_image_observations(tmp_path: Path) -> None:
    env = PixelObservation(gymnasium.make("CartPole-v1", render_mode="rgb_array"), size=16)
    seen: list[tuple[int, ...]] = []

    def always_right(obs: np.ndarray, rng: np.random.Generator) -> int:
        seen.append(obs.shape)
        assert isinstance(rng, np.random.Generator)
        return 1

    with EpisodeStore.create(tmp_path / "frames", "CartPole-v1") as store:
        collect(env, 3, store, policy=always_right, seed=0, progress=False)
    stored = list(EpisodeStore(tmp_path / "frames"))
    assert len(stored) == 3
    assert set(seen) == {(16, 16, 3)}
    for episode in stored:
        assert episode.obs.dtype == np.uint8 and episode.obs.shape[1:] == (16, 16, 3)
        assert (episode.action[1:] == 1).all() and episode.action[0] == 0
    # Frames go through replay as uint8 too.
    replay = ReplayBuffer.load(tmp_path / "frames", capacity=1000)
    assert (
        replay.sample_sequences(2, 3, np.random.default_rng(0)).obs.dtype.is_floating_point is False
    )


def test_collect_rejects_bad_arguments(tmp_path: Path) -> None:
    store = EpisodeStore.create(tmp_path, "CartPole-v1")
    with pytest.raises(DreamlabError):
        collect(gymnasium.make("CartPole-v1"), 1, store, max_steps=0)
    with pytest.raises(DreamlabError):
        collect(gymnasium.make("CartPole-v1"), -1, store)
