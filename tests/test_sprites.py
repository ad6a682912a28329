"""dreamlab.envs.sprites: physics, events, rendering, state round trips, bulk generation, gymnasium env."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dreamlab.envs.sprites import (
    CANVAS,
    CIRCLE,
    PALETTE,
    SQUARE,
    SpritesConfig,
    SpritesEnv,
    SpriteWorlds,
    generate_sprites,
    render_worlds,
    reset_worlds,
    sprites,
    step_worlds,
)
from dreamlab.errors import DreamlabError


def _worlds(pos, vel, radius, shape=None, alive=None) -> SpriteWorlds:
    """One hand-made world (B = 1) from per-slot lists."""
    m = len(pos)
    return SpriteWorlds(
        pos=np.array([pos], dtype=np.float64),
        vel=np.array([vel], dtype=np.float64),
        radius=np.array([radius], dtype=np.float64),
        shape=np.array([shape or [CIRCLE] * m]),
        colour=np.array([list(range(m))]),
        alive=np.array([alive or [True] * m]),
    )


def _energy(w: SpriteWorlds) -> np.ndarray:
    """Sum of squared speeds of the alive objects per world, [B]."""
    return np.sum(np.sum(w.vel**2, axis=-1) * w.alive, axis=-1)


# ---- physics ----


def test_objects_stay_inside_the_canvas() -> None:
    cfg = SpritesConfig(num_objects=6, spawn_prob=0.1, recolour_prob=0.1)
    rng = np.random.default_rng(0)
    w = reset_worlds(cfg, 300, rng)
    for _ in range(150):
        w, _ = step_worlds(cfg, w, rng.uniform(-1, 1, size=(300, 2)), rng)
        r = w.radius[..., None]
        assert np.all(w.pos >= r - 1e-9)
        assert np.all(w.pos <= CANVAS - r + 1e-9)


def test_bounces_and_collisions_conserve_energy() -> None:
    cfg = SpritesConfig(num_objects=9)  # crowded, so many pairs collide
    rng = np.random.default_rng(1)
    w = reset_worlds(cfg, 200, rng)
    w = SpriteWorlds(
        w.pos, rng.uniform(-2, 2, size=w.vel.shape), w.radius, w.shape, w.colour, w.alive
    )
    zero = np.zeros((200, 2))
    speeds_changed = 0
    for _ in range(100):
        before = w
        w, _ = step_worlds(cfg, w, zero, rng)
        np.testing.assert_allclose(_energy(w), _energy(before), rtol=1e-9)
        # Bounces keep every speed; only collisions move speed from one object to another.
        speeds_changed += int(
            np.sum(~np.isclose(np.linalg.norm(w.vel, axis=-1), np.linalg.norm(before.vel, axis=-1)))
        )
    assert speeds_changed > 100  # collisions did happen


def test_head_on_collision_exchanges_velocities() -> None:
    cfg = SpritesConfig(num_objects=1)
    w = _worlds(pos=[[20.0, 32.0], [29.0, 32.0]], vel=[[1.0, 0.0], [-2.0, 0.0]], radius=[4, 4])
    w2, _ = step_worlds(cfg, w, np.zeros((1, 2)), np.random.default_rng(0))
    np.testing.assert_allclose(w2.vel[0], [[-2.0, 0.0], [1.0, 0.0]], atol=1e-12)
    # The overlap is split: the pair ends exactly touching, centred where it met.
    assert np.linalg.norm(w2.pos[0, 1] - w2.pos[0, 0]) == pytest.approx(8.0)
    assert w2.pos[0, :, 0].mean() == pytest.approx((21.0 + 27.0) / 2)
    assert w.vel[0, 0, 0] == 1.0  # the input worlds are not modified


def test_oblique_collision_exchanges_only_the_normal_components() -> None:
    cfg = SpritesConfig(num_objects=1)
    # Object 0 moves right into object 1, at rest below and to its right.
    v = np.array([[1.0, 0.0], [0.0, 0.0]])
    w = _worlds(pos=[[20.0, 20.0], [26.0, 26.0]], vel=v.tolist(), radius=[5, 5])
    w2, _ = step_worlds(cfg, w, np.zeros((1, 2)), np.random.default_rng(0))
    d = w2.pos[0, 1] - w2.pos[0, 0]
    n = d / np.linalg.norm(d)  # line of centres at contact
    t = np.array([-n[1], n[0]])
    assert abs(n[0] - n[1]) > 0.05  # not a symmetric case
    after = w2.vel[0]
    np.testing.assert_allclose(after @ t, v @ t, atol=1e-12)  # tangential parts kept
    np.testing.assert_allclose(after @ n, (v @ n)[::-1], atol=1e-12)  # normal parts swapped
    assert np.linalg.norm(after[1]) > 0.3  # the resting object was set in motion


def test_actions_move_the_agent_in_their_direction() -> None:
    cfg = SpritesConfig(num_objects=1)
    rng = np.random.default_rng(0)
    w = _worlds(
        pos=[[32.0, 32.0], [10.0, 10.0]], vel=[[0, 0], [0, 0]], radius=[4, 4], alive=[True, False]
    )
    for _ in range(3):
        w, _ = step_worlds(cfg, w, np.array([[1.0, 0.0]]), rng)
    np.testing.assert_allclose(w.pos[0, 0], [32.0 + 0.5 + 1.0 + 1.5, 32.0])
    for _ in range(6):
        w, _ = step_worlds(cfg, w, np.array([[0.0, -1.0]]), rng)
    assert w.vel[0, 0, 1] < 0 and w.pos[0, 0, 1] < 32.0
    # Held actions saturate at the agent's top speed.
    for _ in range(20):
        w, _ = step_worlds(cfg, w, np.array([[-1.0, -1.0]]), rng)
        assert np.linalg.norm(w.vel[0, 0]) <= cfg.agent_max_speed + 1e-9
    np.testing.assert_allclose(np.linalg.norm(w.vel[0, 0]), cfg.agent_max_speed)


# ---- events ----


def test_events_happen_at_their_probability_and_do_what_they_say() -> None:
    cfg = SpritesConfig(num_objects=3, spawn_prob=0.2, recolour_prob=0.1)
    rng = np.random.default_rng(2)
    b = 2000
    w = reset_worlds(cfg, b, rng)
    recolours, spawns, spawn_chances = [], [], []
    for _ in range(10):
        before = w
        w, flags = step_worlds(cfg, w, np.zeros((b, 2)), rng)
        spawn, recolour = flags[:, 0], flags[:, 1]
        recolours.append(recolour)
        had_room = ~before.alive[:, 1:].all(axis=1)
        spawns.append(spawn[had_room])
        spawn_chances.append(had_room)
        # Spawn adds exactly one alive object; nothing else changes the count.
        gained = w.alive.sum(1) - before.alive.sum(1)
        np.testing.assert_array_equal(gained, spawn.astype(int))
        assert not np.any(spawn & ~had_room)
        # Recolour changes exactly one colour among the objects alive before, never the agent's.
        changed = np.sum((w.colour != before.colour) & before.alive, axis=1)
        np.testing.assert_array_equal(changed, recolour.astype(int))
        assert np.all(w.colour[:, 0] == 0)
        # Alive objects keep distinct colours.
        for i in range(w.slots):
            for j in range(i + 1, w.slots):
                assert not np.any(
                    w.alive[:, i] & w.alive[:, j] & (w.colour[:, i] == w.colour[:, j])
                )
    assert np.mean(np.concatenate(recolours)) == pytest.approx(0.1, abs=0.01)
    assert np.mean(np.concatenate(spawns)) == pytest.approx(0.2, abs=0.02)
    assert np.concatenate(spawn_chances).sum() > 5000


def test_no_events_when_disabled() -> None:
    env = SpritesEnv(num_objects=3, events=False, spawn_prob=1.0, recolour_prob=1.0, max_steps=500)
    _, info = env.reset(seed=0)
    colours = info["colours"].copy()
    assert info["alive"].all()
    for _ in range(300):
        _, reward, terminated, _, info = env.step(env.action_space.sample())
        assert reward == 0.0 and not terminated
        assert info["events"] == {"spawn": False, "recolour": False}
    np.testing.assert_array_equal(info["colours"], colours)
    assert info["alive"].all()


def test_env_events_fire_when_enabled() -> None:
    env = SpritesEnv(num_objects=3, events=True, spawn_prob=0.5, recolour_prob=0.5, max_steps=1000)
    env.reset(seed=3)
    counts = {"spawn": 0, "recolour": 0}
    for _ in range(200):
        info = env.step(np.zeros(2, dtype=np.float32))[4]
        for name, fired in info["events"].items():
            counts[name] += int(fired)
    assert 70 <= counts["recolour"] <= 130
    assert counts["spawn"] >= 1  # at most K - 1 spawns fit, then every slot is full


# ---- rendering ----


def _check_centroids(frame: np.ndarray, info: dict) -> int:
    """Assert each clearly separated object's pixels centre on its position; returns how many."""
    pos, radius, alive = info["positions"], info["radii"], info["alive"]
    checked = 0
    for i in np.flatnonzero(alive):
        others = [j for j in np.flatnonzero(alive) if j != i]
        dist = [np.linalg.norm(pos[i] - pos[j]) - radius[i] - radius[j] for j in others]
        if dist and min(dist) < 1.0:
            continue  # touching or occluded objects are not a fair test
        rows, cols = np.nonzero(np.all(frame == PALETTE[info["colours"][i]], axis=-1))
        assert len(rows) >= 20, f"object {i} has only {len(rows)} pixels"
        centroid = np.array([cols.mean() + 0.5, rows.mean() + 0.5])  # pixel centres, (x, y)
        assert np.linalg.norm(centroid - pos[i]) <= 1.0, (i, centroid, pos[i])
        checked += 1
    return checked


def test_positions_in_info_match_the_rendered_frame() -> None:
    env = SpritesEnv(
        num_objects=5, events=True, spawn_prob=0.2, recolour_prob=0.2, render_mode="rgb_array"
    )
    obs, info = env.reset(seed=4)
    checked = _check_centroids(obs, info)
    for _ in range(60):
        obs, _, _, _, info = env.step(env.action_space.sample())
        checked += _check_centroids(obs, info)
        np.testing.assert_array_equal(env.render(), obs)
    assert checked > 150


def test_shapes_render_as_circles_and_squares() -> None:
    cfg = SpritesConfig(num_objects=1)
    w = _worlds(
        pos=[[16.0, 16.0], [40.0, 40.0]],
        vel=[[0, 0], [0, 0]],
        radius=[5, 5],
        shape=[CIRCLE, SQUARE],
    )
    frame = render_worlds(cfg, w)[0]
    assert frame.dtype == np.uint8 and frame.shape == (CANVAS, CANVAS, 3)
    square = np.all(frame == PALETTE[1], axis=-1)
    assert square.sum() == 100 and square[35:45, 35:45].all()  # a 10 x 10 block
    circle = np.all(frame == PALETTE[0], axis=-1)
    assert 70 <= circle.sum() <= 90  # pi * 5^2 ~ 78.5
    assert not circle[11, 11] and circle[16, 16]  # corners of the bounding box stay black
    assert frame[0, 0].tolist() == [0, 0, 0]


# ---- state round trip ----


def test_get_state_set_state_replays_exactly() -> None:
    env = SpritesEnv(num_objects=4, events=True, spawn_prob=0.3, recolour_prob=0.3, max_steps=1000)
    env.reset(seed=5)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(40, 2)).astype(np.float32)
    for a in actions[:10]:
        env.step(a)
    state = env.get_state()
    assert state.shape == (env.state_size,) and state.dtype == np.float64

    def run() -> list:
        return [env.step(a) for a in actions[10:]]

    first = run()
    assert any(any(out[4]["events"].values()) for out in first)  # events are part of what repeats
    other = SpritesEnv(
        num_objects=4, events=True, spawn_prob=0.3, recolour_prob=0.3, max_steps=1000
    )
    other.reset(seed=99)
    for replay_env in (env, other):
        replay_env.set_state(state)
        np.testing.assert_array_equal(replay_env.get_state(), state)
        for a, (obs, reward, term, trunc, info) in zip(actions[10:], first, strict=True):
            obs2, reward2, term2, trunc2, info2 = replay_env.step(a)
            np.testing.assert_array_equal(obs2, obs)
            np.testing.assert_array_equal(info2["positions"], info["positions"])
            np.testing.assert_array_equal(info2["colours"], info["colours"])
            assert info2["events"] == info["events"]
            assert (reward2, term2, trunc2) == (reward, term, trunc)
    with pytest.raises(DreamlabError, match="state must have shape"):
        env.set_state(state[:-1])


def test_packed_worlds_round_trip() -> None:
    cfg = SpritesConfig(num_objects=5, spawn_prob=0.5)
    w = reset_worlds(cfg, 7, np.random.default_rng(6))
    back = SpriteWorlds.from_array(w.to_array())
    for name in ("pos", "vel", "radius", "shape", "colour", "alive"):
        np.testing.assert_array_equal(getattr(back, name), getattr(w, name))


# ---- bulk generation ----


def test_generate_is_deterministic_and_consistent() -> None:
    a = generate_sprites(120, 9, seed=7, chunk=50, progress=False)
    b = generate_sprites(120, 9, seed=7, chunk=50, progress=False)
    c = generate_sprites(120, 9, seed=8, chunk=50, progress=False)
    for name in ("frames", "actions", "positions", "colours", "alive", "events"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.frames, c.frames)
    assert a.frames.shape == (120, 9, CANVAS, CANVAS, 3) and a.frames.dtype == np.uint8
    assert a.actions.shape == (120, 8, 2) and a.actions.dtype == np.float32
    assert a.positions.shape == (120, 9, 4, 2) and a.positions.dtype == np.float32
    assert a.events.shape == (120, 9, 2) and not a.events[:, 0].any()
    assert np.abs(a.actions).max() <= 1.0
    # Ornstein-Uhlenbeck actions change smoothly, unlike i.i.d. uniform ones.
    u = generate_sprites(120, 9, seed=7, policy="uniform", progress=False)
    smooth = np.abs(np.diff(a.actions, axis=1)).mean()
    assert smooth < 0.5 * np.abs(np.diff(u.actions, axis=1)).mean()
    # The frames are renders of the recorded positions (slot 0, the agent, is white and on top).
    first = a.subset(slice(0, 1))
    rows, cols = np.nonzero(np.all(first.frames[0, 0] == PALETTE[0], axis=-1))
    np.testing.assert_allclose(
        [cols.mean() + 0.5, rows.mean() + 0.5], first.positions[0, 0, 0], atol=1.0
    )


def test_generate_ten_thousand_videos_quickly() -> None:
    began = time.perf_counter()
    data = generate_sprites(10_000, 17, seed=0, progress=False)
    seconds = time.perf_counter() - began
    assert len(data) == 10_000 and data.frames.shape == (10_000, 17, CANVAS, CANVAS, 3)
    assert seconds < 60.0, f"10,000 x 17 sprites took {seconds:.1f} s"
    assert data.events[:, 1:, 1].mean() == pytest.approx(0.05, abs=0.01)


def test_generate_rejects_bad_options() -> None:
    with pytest.raises(DreamlabError, match="unknown sprites policy 'randm'"):
        generate_sprites(2, policy="randm")
    with pytest.raises(DreamlabError, match="num_objects"):
        generate_sprites(2, num_objects=12)


# ---- the gymnasium env ----


@pytest.mark.filterwarnings("ignore:.*alternative render modes")  # built directly, without a spec
@pytest.mark.parametrize("events", [False, True])
def test_gymnasium_env_checker_passes(events: bool) -> None:
    check_env(sprites(num_objects=3, events=events), skip_render_check=False)


def test_env_info_and_truncation() -> None:
    env = sprites(num_objects=2, max_steps=5)
    obs, info = env.reset(seed=0)
    assert obs.shape == (CANVAS, CANVAS, 3) and obs.dtype == np.uint8
    assert info["positions"].shape == (3, 2) and info["velocities"].shape == (3, 2)
    assert info["colours"].shape == (3,) and info["alive"].shape == (3,)
    truncated = [env.step(np.zeros(2, dtype=np.float32))[3] for _ in range(5)]
    assert truncated == [False, False, False, False, True]
    with pytest.raises(DreamlabError, match="render_mode"):
        SpritesEnv(render_mode="human")
    with pytest.raises(DreamlabError, match="reset"):
        SpritesEnv().step(np.zeros(2))
