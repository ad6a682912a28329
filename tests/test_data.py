"""Episodes and the on-disk episode store: round trips, chunking, appending, corrupt or foreign folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dreamlab.data import Episode, EpisodeBuilder, EpisodeStore
from dreamlab.errors import DreamlabError


def make_episode(
    rng: np.random.Generator, length: int, *, image: bool = True, terminal: bool = True
) -> Episode:
    """A random episode: uint8 frames or int64 obs, float32 continuous actions, a float64 extra."""
    obs = (
        rng.integers(0, 256, size=(length, 6, 5, 3), dtype=np.uint8)
        if image
        else rng.integers(-50, 50, size=(length,), dtype=np.int64)
    )
    action = rng.normal(size=(length, 2)).astype(np.float32)
    action[0] = 0
    flags = np.zeros(length, dtype=bool)
    is_first, is_last, is_terminal = flags.copy(), flags.copy(), flags.copy()
    is_first[0] = is_last[-1] = True
    is_terminal[-1] = terminal
    reward = rng.normal(size=length).astype(np.float32)
    reward[0] = 0
    return Episode(
        obs=obs,
        action=action,
        reward=reward,
        is_first=is_first,
        is_last=is_last,
        is_terminal=is_terminal,
        extras={"pos": rng.normal(size=(length, 2))},
    )


def assert_same(a: Episode, b: Episode) -> None:
    """Every array equal in value, dtype and shape."""
    arrays_a, arrays_b = a.arrays(), b.arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for name, x in arrays_a.items():
        y = arrays_b[name]
        assert x.dtype == y.dtype, name
        assert x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def snapshot(root: Path) -> dict[str, bytes]:
    """The bytes of every file under root, to check that nothing was changed."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def one_line_error(excinfo: pytest.ExceptionInfo[DreamlabError]) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


# --- Episode and EpisodeBuilder ----------------------------------------------------------------


def test_episode_properties_and_dtype_normalisation() -> None:
    episode = Episode(
        obs=np.arange(4),
        action=np.array([0, 1, 0, 1], dtype=np.int32),
        reward=np.array([0.0, 1.0, 2.0, 0.5]),
        is_first=np.array([1, 0, 0, 0]),
        is_last=np.array([0, 0, 0, 1]),
        is_terminal=np.array([0, 0, 0, 0]),
    )
    assert len(episode) == 4
    assert episode.steps == 3
    assert episode.ret == pytest.approx(3.5)
    assert episode.action.dtype == np.int64
    assert episode.reward.dtype == np.float32
    assert episode.is_first.dtype == np.bool_


def test_episode_validation() -> None:
    good = dict(
        obs=np.zeros((3, 2)),
        action=np.zeros(3, dtype=np.int64),
        reward=np.zeros(3),
        is_first=[True, False, False],
        is_last=[False, False, True],
        is_terminal=[False, False, True],
    )
    Episode(**good)  # type: ignore[arg-type]
    with pytest.raises(DreamlabError) as excinfo:
        Episode(**{**good, "reward": np.zeros(2)})  # type: ignore[arg-type]
    assert "reward" in one_line_error(excinfo)
    with pytest.raises(DreamlabError) as excinfo:
        Episode(**{**good, "is_first": [False, False, False]})  # type: ignore[arg-type]
    assert "is_first" in one_line_error(excinfo)
    with pytest.raises(DreamlabError):
        Episode(**good, extras={"pos": np.zeros((4, 2))})  # type: ignore[arg-type]


def test_builder_follows_the_time_indexing() -> None:
    import gymnasium

    space = gymnasium.spaces.Box(-1, 1, shape=(2,), dtype=np.float32)
    builder = EpisodeBuilder(space)
    builder.start(np.array([0.0, 0.0]), extras={"pos": np.array([0, 0])})
    builder.add(
        np.array([0.5, -0.5]),
        np.array([1.0, 1.0]),
        1.5,
        False,
        False,
        extras={"pos": np.array([1, 0])},
    )
    builder.add(
        np.array([0.1, 0.2]),
        np.array([2.0, 2.0]),
        -1.0,
        False,
        True,
        extras={"pos": np.array([2, 0])},
    )
    with pytest.raises(DreamlabError):
        builder.add(np.zeros(2), np.zeros(2), 0.0, False, False)  # the episode already ended
    episode = builder.finish()

    assert len(episode) == 3 and episode.steps == 2
    np.testing.assert_array_equal(
        episode.action, np.array([[0, 0], [0.5, -0.5], [0.1, 0.2]], np.float32)
    )
    assert episode.action.dtype == np.float32
    np.testing.assert_array_equal(episode.reward, [0.0, 1.5, -1.0])
    np.testing.assert_array_equal(episode.is_first, [True, False, False])
    np.testing.assert_array_equal(episode.is_last, [False, False, True])
    np.testing.assert_array_equal(
        episode.is_terminal, [False, False, False]
    )  # truncated, not terminal
    np.testing.assert_array_equal(episode.extras["pos"][:, 0], [0, 1, 2])

    # Discrete: int observations become int64, a terminated episode is terminal at its last step.
    builder = EpisodeBuilder(gymnasium.spaces.Discrete(4))
    builder.start(3)
    builder.add(2, 7, 0.0, True, False)
    episode = builder.finish()
    assert episode.obs.dtype == np.int64 and episode.action.dtype == np.int64
    np.testing.assert_array_equal(episode.obs, [3, 7])
    np.testing.assert_array_equal(episode.action, [0, 2])
    np.testing.assert_array_equal(episode.is_terminal, [False, True])


# --- EpisodeStore --------------------------------------------------------------------------------


def test_store_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    episodes = [make_episode(rng, n) for n in (5, 1, 9, 4)]
    with EpisodeStore.create(
        tmp_path / "store",
        "Toy-v0",
        {"note": "test"},
        observation_space="Box(0, 255, (6, 5, 3), uint8)",
    ) as store:
        for episode in episodes:
            store.add(episode)
        assert len(store) == 4  # buffered episodes count before they are written

    store = EpisodeStore(tmp_path / "store")
    assert len(store) == 4
    assert store.num_steps == sum(ep.steps for ep in episodes)
    assert store.env_name == "Toy-v0"
    assert store.meta == {"note": "test"}
    assert store.observation_space == "Box(0, 255, (6, 5, 3), uint8)"
    loaded = list(store)
    assert len(loaded) == 4
    for a, b in zip(episodes, loaded, strict=True):
        assert_same(a, b)
    assert loaded[0].obs.dtype == np.uint8
    assert_same(store.load(2), episodes[2])
    assert_same(store.load(-1), episodes[-1])
    with pytest.raises(DreamlabError):
        store.load(4)

    metadata = json.loads((tmp_path / "store" / "metadata.json").read_text())
    assert metadata["format"] == "dreamlab-episodes"
    assert metadata["episodes"] == 4
    assert metadata["chunks"][0]["lengths"] == [5, 1, 9, 4]


def test_store_with_int_observations(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    episodes = [make_episode(rng, n, image=False) for n in (3, 7)]
    with EpisodeStore.create(tmp_path, "Ints-v0") as store:
        for episode in episodes:
            store.add(episode)
    for a, b in zip(episodes, EpisodeStore(tmp_path), strict=True):
        assert_same(a, b)


def test_chunking_and_appending(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    episodes = [make_episode(rng, 5) for _ in range(8)]
    store = EpisodeStore.create(tmp_path, "Toy-v0", chunk_steps=10)
    for episode in episodes[:6]:
        store.add(episode)
    # Every two episodes of 5 steps fill a chunk of 10.
    assert sorted(p.name for p in tmp_path.glob("chunk_*.npz")) == [
        "chunk_000000.npz",
        "chunk_000001.npz",
        "chunk_000002.npz",
    ]
    store.close()
    with pytest.raises(DreamlabError):
        store.add(episodes[0])

    with EpisodeStore(tmp_path, chunk_steps=100) as reopened:
        assert len(reopened) == 6
        for episode in episodes[6:]:
            reopened.add(episode)
    final = EpisodeStore(tmp_path)
    assert len(final) == 8
    assert final.num_chunks == 4
    assert final.num_steps == 8 * 4
    for a, b in zip(episodes, final.episodes(), strict=True):
        assert_same(a, b)


def test_store_rejects_an_episode_of_another_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    with EpisodeStore.create(tmp_path, "Toy-v0") as store:
        store.add(make_episode(rng, 3))
        with pytest.raises(DreamlabError) as excinfo:
            store.add(make_episode(rng, 3, image=False))
        assert "obs" in one_line_error(excinfo)


def test_create_refuses_existing_or_foreign_folders(tmp_path: Path) -> None:
    EpisodeStore.create(tmp_path / "a", "Toy-v0")
    with pytest.raises(DreamlabError):
        EpisodeStore.create(tmp_path / "a", "Toy-v0")
    assert EpisodeStore.create(tmp_path / "a", "Toy-v0", exist_ok=True).env_name == "Toy-v0"
    with pytest.raises(DreamlabError):
        EpisodeStore.create(tmp_path / "a", "Other-v0", exist_ok=True)

    foreign = tmp_path / "b"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    before = snapshot(foreign)
    with pytest.raises(DreamlabError) as excinfo:
        EpisodeStore.create(foreign, "Toy-v0")
    one_line_error(excinfo)
    assert snapshot(foreign) == before


def _written_store(root: Path) -> None:
    rng = np.random.default_rng(4)
    with EpisodeStore.create(root, "Toy-v0", chunk_steps=8) as store:
        for _ in range(6):
            store.add(make_episode(rng, 4))


def test_missing_or_foreign_metadata(tmp_path: Path) -> None:
    with pytest.raises(DreamlabError) as excinfo:
        EpisodeStore(tmp_path / "nowhere")
    one_line_error(excinfo)

    _written_store(tmp_path)
    (tmp_path / "metadata.json").unlink()
    before = snapshot(tmp_path)
    with pytest.raises(DreamlabError) as excinfo:
        EpisodeStore(tmp_path)
    assert "metadata.json" in one_line_error(excinfo)
    assert snapshot(tmp_path) == before

    (tmp_path / "metadata.json").write_text(json.dumps({"format": "someone-elses", "version": 1}))
    before = snapshot(tmp_path)
    with pytest.raises(DreamlabError) as excinfo:
        EpisodeStore(tmp_path)
    assert "someone-elses" in one_line_error(excinfo)
    (tmp_path / "metadata.json").write_text("{not json")
    before = snapshot(tmp_path)
    with pytest.raises(DreamlabError):
        EpisodeStore(tmp_path)
    assert snapshot(tmp_path) == before


def test_truncated_chunk_is_reported_and_left_alone(tmp_path: Path) -> None:
    _written_store(tmp_path)
    chunk = tmp_path / "chunk_000001.npz"
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    before = snapshot(tmp_path)
    with pytest.raises(DreamlabError) as excinfo:
        list(EpisodeStore(tmp_path))
    assert "chunk_000001.npz" in one_line_error(excinfo)
    assert snapshot(tmp_path) == before


def test_damaged_chunk_of_the_right_size_is_reported_and_left_alone(tmp_path: Path) -> None:
    _written_store(tmp_path)
    chunk = tmp_path / "chunk_000002.npz"
    data = bytearray(chunk.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 16] = bytes(255 - b for b in data[middle : middle + 16])
    chunk.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    store = EpisodeStore(tmp_path)  # sizes match, so opening works; reading the chunk fails
    assert len(store.load(0)) == 4  # earlier chunks are still readable
    with pytest.raises(DreamlabError) as excinfo:
        list(store)
    assert "chunk_000002.npz" in one_line_error(excinfo)
    with pytest.raises(DreamlabError):
        store.load(5)
    assert snapshot(tmp_path) == before


def test_store_killed_mid_write_is_readable_up_to_its_last_chunk(tmp_path: Path) -> None:
    # A real process writes two chunks, buffers one more episode, then dies without closing.
    script = f"""
import os
import numpy as np
from dreamlab.data.episodes import Episode, EpisodeStore
store = EpisodeStore.create({str(tmp_path)!r}, "Toy-v0", chunk_steps=6)
for i in range(5):
    n = 3
    store.add(Episode(obs=np.full((n, 2), i, dtype=np.uint8), action=np.zeros(n, dtype=np.int64),
        reward=np.ones(n), is_first=np.arange(n) == 0, is_last=np.arange(n) == n - 1,
        is_terminal=np.zeros(n, dtype=bool)))
# An interrupted chunk write leaves a temporary file behind.
open(os.path.join({str(tmp_path)!r}, ".chunk_000002.npz.abc.tmp"), "wb").write(b"partial")
os._exit(1)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stderr
    store = EpisodeStore(tmp_path)
    assert len(store) == 4
    assert [int(ep.obs[0, 0]) for ep in store] == [0, 1, 2, 3]
    # Appending after the crash works and ignores the leftover.
    with store:
        store.add(next(iter(store)))
    assert len(EpisodeStore(tmp_path)) == 5
