"""The replay buffer: windows stay inside episodes, uniform coverage, FIFO eviction, transitions, persistence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamlab.data import Episode, EpisodeStore, ReplayBuffer
from dreamlab.errors import DreamlabError
from dreamlab.types import Batch


def tagged_episode(episode_id: int, length: int, terminal: bool = True) -> Episode:
    """An episode whose obs row t is (episode_id, t), action a_{t-1} = t and reward r_t = 1000 id + t."""
    t = np.arange(length)
    obs = np.stack([np.full(length, episode_id), t], axis=1).astype(np.int64)  # [T, 2]
    action = t.copy()
    action[0] = 0
    reward = (1000 * episode_id + t).astype(np.float32)
    reward[0] = 0
    return Episode(
        obs=obs,
        action=action,
        reward=reward,
        is_first=t == 0,
        is_last=t == length - 1,
        is_terminal=(t == length - 1) & terminal,
    )


def filled(capacity: int, lengths: list[int]) -> ReplayBuffer:
    buffer = ReplayBuffer(capacity)
    for i, n in enumerate(lengths):
        buffer.add(tagged_episode(i, n, terminal=i % 2 == 0))
    return buffer


def stored_ids(buffer: ReplayBuffer) -> list[int]:
    return [int(ep.obs[0, 0]) for ep in buffer.episodes()]


def check_window(batch: Batch, lengths: dict[int, int]) -> None:
    """Every window lies in one episode, is consecutive, and its flags match its position."""
    obs = batch.obs.numpy()
    for b in range(batch.shape[0]):
        ids, ts = obs[b, :, 0], obs[b, :, 1]
        assert (ids == ids[0]).all(), f"window {b} mixes episodes {set(ids.tolist())}"
        np.testing.assert_array_equal(ts, ts[0] + np.arange(len(ts)))
        n = lengths[int(ids[0])]
        assert ts[-1] < n
        np.testing.assert_array_equal(batch.is_first[b].numpy(), ts == 0)
        np.testing.assert_array_equal(batch.is_last[b].numpy(), ts == n - 1)
        np.testing.assert_array_equal(batch.action[b, 1:].numpy(), ts[1:])
        np.testing.assert_array_equal(batch.reward[b, 1:].numpy(), 1000 * ids[0] + ts[1:])


def test_sequences_never_cross_an_episode_boundary() -> None:
    lengths = [3, 9, 4, 12, 2, 7, 5]
    buffer = filled(100, lengths)
    rng = np.random.default_rng(0)
    for length in (1, 3, 4, 7):
        batch = buffer.sample_sequences(256, length, rng)
        assert batch.shape == (256, length)
        assert batch.obs.dtype == torch.int64 and batch.reward.dtype == torch.float32
        assert batch.is_first.dtype == torch.bool
        check_window(batch, dict(enumerate(lengths)))


def test_sequences_after_the_ring_wrapped() -> None:
    buffer = ReplayBuffer(30)
    lengths: dict[int, int] = {}
    rng = np.random.default_rng(1)
    for i in range(40):
        n = int(rng.integers(2, 12))
        lengths[i] = n
        buffer.add(tagged_episode(i, n))
    check_window(buffer.sample_sequences(512, 2, rng), lengths)


def test_every_valid_window_is_sampled_uniformly() -> None:
    lengths = [3, 5, 8, 2]  # with length 3: 1 + 3 + 6 + 0 = 10 windows; the episode of 2 has none
    buffer = filled(50, lengths)
    rng = np.random.default_rng(2)
    draws = 20_000
    batch = buffer.sample_sequences(draws, 3, rng)
    counts = Counter((int(i), int(t)) for i, t in batch.obs[:, 0].numpy())
    expected = {(e, s) for e, n in enumerate(lengths) for s in range(n - 3 + 1)}
    assert set(counts) == expected
    # Each of 10 windows has probability 0.1: 2000 expected, standard deviation about 42.
    for key in expected:
        assert abs(counts[key] - draws / len(expected)) < 250, (key, counts[key])


def test_no_episode_long_enough_is_an_error() -> None:
    buffer = filled(50, [3, 4])
    with pytest.raises(DreamlabError) as excinfo:
        buffer.sample_sequences(4, 5, np.random.default_rng(0))
    message = str(excinfo.value)
    assert "\n" not in message and "longest has 4" in message
    with pytest.raises(DreamlabError):
        ReplayBuffer(10).sample(4, np.random.default_rng(0))


def test_eviction_keeps_within_capacity_and_drops_oldest_first() -> None:
    capacity = 25
    buffer = ReplayBuffer(capacity)
    rng = np.random.default_rng(3)
    added: list[int] = []
    for i in range(30):
        n = int(rng.integers(2, 10))
        buffer.add(tagged_episode(i, n))
        added.append(i)
        assert len(buffer) <= capacity
        ids = stored_ids(buffer)
        # What is kept is always the newest episodes, in order, without holes.
        assert ids == added[len(added) - len(ids) :]
        assert len(buffer) == sum(len(ep) for ep in buffer.episodes())
        assert buffer.num_episodes == len(ids)
    assert buffer.num_transitions == len(buffer) - buffer.num_episodes
    with pytest.raises(DreamlabError):
        buffer.add(tagged_episode(99, capacity + 1))


def test_episodes_come_back_unchanged() -> None:
    buffer = ReplayBuffer(20)
    originals = [tagged_episode(i, n) for i, n in enumerate([6, 7, 5, 9])]
    for episode in originals:
        buffer.add(episode)
    kept = list(buffer.episodes())
    assert [int(ep.obs[0, 0]) for ep in kept] == [2, 3]  # 6 + 7 + 5 + 9 > 20: the first two went
    for a, b in zip(originals[2:], kept, strict=True):
        for name, x in a.arrays().items():
            np.testing.assert_array_equal(x, b.arrays()[name])


def test_transitions_are_consistent() -> None:
    lengths = [4, 6, 2, 9]
    buffer = filled(50, lengths)
    batch = buffer.sample(500, np.random.default_rng(4))
    obs, next_obs = batch.obs.numpy(), batch.next_obs.numpy()
    ids, t = obs[:, 0], obs[:, 1]
    np.testing.assert_array_equal(next_obs[:, 0], ids)
    np.testing.assert_array_equal(next_obs[:, 1], t + 1)
    np.testing.assert_array_equal(batch.action.numpy(), t + 1)  # a_t is stored at row t + 1
    np.testing.assert_array_equal(batch.reward.numpy(), 1000 * ids + t + 1)
    n = np.array(lengths)[ids]
    terminal_episode = ids % 2 == 0
    np.testing.assert_array_equal(batch.terminal.numpy(), (t + 1 == n - 1) & terminal_episode)
    assert (t + 1 < n).all()
    assert batch.terminal.any() and not batch.terminal.all()


def test_images_stay_uint8() -> None:
    buffer = ReplayBuffer(40)
    for _ in range(3):
        frames = np.random.default_rng(5).integers(0, 256, size=(8, 4, 4, 3), dtype=np.uint8)
        t = np.arange(8)
        buffer.add(
            Episode(frames, np.zeros((8, 2), np.float32), np.zeros(8), t == 0, t == 7, t < 0)
        )
    batch = buffer.sample_sequences(5, 4, np.random.default_rng(0))
    assert batch.obs.dtype == torch.uint8 and batch.obs.shape == (5, 4, 4, 4, 3)
    assert batch.action.shape == (5, 4, 2) and batch.action.dtype == torch.float32
    assert buffer.sample(3, np.random.default_rng(0)).next_obs.dtype == torch.uint8


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    buffer = ReplayBuffer(40)
    rng = np.random.default_rng(6)
    for i in range(15):  # enough to wrap and evict
        buffer.add(tagged_episode(i, int(rng.integers(2, 9)), terminal=bool(i % 3)))
    buffer.save(tmp_path / "replay", env_name="Toy-v0")
    assert EpisodeStore(tmp_path / "replay").env_name == "Toy-v0"

    loaded = ReplayBuffer.load(tmp_path / "replay", capacity=40)
    assert len(loaded) == len(buffer) and loaded.num_episodes == buffer.num_episodes
    for a, b in zip(buffer.episodes(), loaded.episodes(), strict=True):
        for name, x in a.arrays().items():
            y = b.arrays()[name]
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)
    # The same draws from the same rng give the same batch.
    s1 = buffer.sample_sequences(16, 2, np.random.default_rng(7))
    s2 = loaded.sample_sequences(16, 2, np.random.default_rng(7))
    for (name, tx), (_, ty) in zip(s1.items(), s2.items(), strict=True):
        assert torch.equal(tx, ty), name

    # Saving again replaces the old copy; a smaller buffer keeps the newest episodes.
    buffer.add(tagged_episode(100, 5))
    buffer.save(tmp_path / "replay")
    assert stored_ids(ReplayBuffer.load(tmp_path / "replay", 40))[-1] == 100
    small = ReplayBuffer.load(tmp_path / "replay", capacity=10)
    assert len(small) <= 10 and stored_ids(small)[-1] == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replay"]  # no leftovers


def test_save_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DreamlabError):
        filled(20, [3, 4]).save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # no leftovers
    assert (tmp_path / "notes.txt").read_text() == "mine"
    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / "metadata.json").write_text('{"format": "someone-elses"}')
    with pytest.raises(DreamlabError):
        filled(20, [3, 4]).save(foreign)
    assert (foreign / "metadata.json").read_text() == '{"format": "someone-elses"}'
