"""Two-Rooms: exact wall dynamics, renderer, env, the true-dynamics WorldModel and the data generator."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from dreamlab.envs.two_rooms import (
    DOOR_GAP,
    SUCCESS_DISTANCE,
    WALL_THICKNESS,
    TwoRoomsData,
    TwoRoomsEnv,
    TwoRoomsModel,
    WallSpec,
    generate_two_rooms,
    render_two_rooms,
    success,
    two_rooms,
    two_rooms_fixed,
    two_rooms_step,
)
from dreamlab.errors import DreamlabError
from dreamlab.protocols import WorldModel
from dreamlab.rollout import rollout

# The fixed wall: solid for 30 < x < 34 outside the door 27.5 <= y <= 36.5.
LEFT, RIGHT, DOOR_LO, DOOR_HI = 30.0, 34.0, 27.5, 36.5


def step1(pos: tuple[float, float], action: tuple[float, float]) -> list[float]:
    """One float64 step of a single world with the fixed wall."""
    walls = WallSpec(torch.tensor([32.0]), torch.tensor([32.0]))
    p = torch.tensor([pos], dtype=torch.float64)
    a = torch.tensor([action], dtype=torch.float64)
    return two_rooms_step(p, a, walls)[0].tolist()


def in_solid(pos: torch.Tensor, walls: WallSpec, tol: float = 1e-4) -> torch.Tensor:
    """Whether points [..., B, 2] lie inside solid wall or beyond a border (by more than tol)."""
    left, right, lo, hi = walls.bounds(pos.dtype)
    x, y = pos[..., 0], pos[..., 1]
    in_slab = (x > left + tol) & (x < right - tol)
    out_door = (y < lo - tol) | (y > hi + tol)
    beyond = (pos < 4 - tol).any(-1) | (pos > 60 + tol).any(-1)
    return (in_slab & out_door) | beyond


def random_walls(rng: np.random.Generator, b: int) -> WallSpec:
    return WallSpec(
        torch.tensor(rng.uniform(20, 44, b), dtype=torch.float32),
        torch.tensor(rng.uniform(15, 49, b), dtype=torch.float32),
    )


# ---- dynamics ----


def test_contact_cut_is_exact_in_hand_computed_cases() -> None:
    # Straight into the wall: stops on the left face.
    assert step1((29.0, 10.0), (1.0, 0.0)) == [30.0, 10.0]
    # Diagonally into the wall outside the door: only x is cut, y moves the full 1 px.
    assert step1((29.5, 10.0), (0.5, 0.5)) == [30.0, 11.0]
    # From the right room moving left: stops on the right face.
    assert step1((35.0, 50.0), (-1.0, 0.0)) == [34.0, 50.0]
    # Inside the door corridor moving up-right: the jamb cuts y at the door's top, x is kept.
    assert step1((32.0, 35.5), (0.6, 0.8)) == pytest.approx([33.2, 36.5], abs=1e-12)
    # Entering the door just above its bottom edge at a slant is allowed.
    assert step1((29.0, 28.0), (1.0, 0.0)) == [31.0, 28.0]
    # Touching the face and sliding along it is free.
    assert step1((30.0, 10.0), (0.0, 1.0)) == [30.0, 12.0]
    # Actions are clipped to norm 1: (3, 4) moves 2 px in direction (0.6, 0.8).
    assert step1((10.0, 10.0), (3.0, 4.0)) == pytest.approx([11.2, 11.6], abs=1e-12)


def test_borders_hold() -> None:
    assert step1((5.0, 59.0), (-0.6, 0.8)) == pytest.approx([4.0, 60.0])
    assert step1((4.0, 30.0), (-1.0, 0.0)) == [4.0, 30.0]
    assert step1((59.0, 4.5), (0.0, -1.0)) == [59.0, 4.0]
    rng = np.random.default_rng(1)
    b = 4096
    pos = torch.tensor(rng.uniform(4, 60, (b, 2)), dtype=torch.float32)
    pos[:, 0] = torch.where(pos[:, 0] < 32, 5.0, 59.0)  # every world next to a side border
    walls = WallSpec.fixed(b)
    for _ in range(20):
        pos = two_rooms_step(
            pos, torch.tensor(rng.normal(0, 1, (b, 2)), dtype=torch.float32), walls
        )
        assert bool(((pos >= 4) & (pos <= 60)).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_moves_never_pass_through_solid_wall(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(0)
    b = 20_000
    walls = random_walls(rng, b)
    left, right, lo, hi = walls.bounds(torch.float64)
    # Starts on both sides close to the wall (and some in the door corridor), all in free space.
    side = torch.tensor(rng.integers(0, 3, b))
    offset = torch.tensor(rng.uniform(0, 3, b))
    x = torch.where(side == 0, left - offset, right + offset)
    x = torch.where(side == 2, left + offset / 3 * (right - left), x)
    y = torch.tensor(rng.uniform(4, 60, b))
    y = torch.where(side == 2, lo + (y - 4) / 56 * (hi - lo), y)
    pos = torch.stack([x, y], -1).to(dtype)
    crossed = torch.zeros(b, dtype=torch.bool)
    for _ in range(8):
        action = torch.tensor(rng.uniform(-1.2, 1.2, (b, 2)), dtype=dtype)
        nxt = two_rooms_step(pos, action, walls)
        assert nxt.dtype == dtype
        # Every point of the straight segment from pos to nxt is free space.
        frac = torch.linspace(0, 1, 33, dtype=torch.float64)[:, None, None]
        seg = pos.double() + frac * (nxt.double() - pos.double())  # [33, B, 2]
        assert not bool(in_solid(seg, walls).any())
        assert bool(((nxt - pos).norm(dim=-1) <= 2 + 1e-5).all())
        was_left = pos[:, 0].double() <= left
        now_right = nxt[:, 0].double() >= right
        crossed |= was_left & now_right
        pos = nxt
    # Rooms were changed, but only through the corridor (checked above); both directions happen.
    side_now = (pos[:, 0].double() > (left + right) / 2).long()
    start_side = (side == 1).long()
    assert bool((side_now[side < 2] != start_side[side < 2]).any())
    assert bool((side_now[(side == 0)] == 1).any()) and bool((side_now[side == 1] == 0).any())


def test_walking_through_the_door_works_and_off_the_door_is_stuck() -> None:
    walls = WallSpec.fixed(2)
    pos = torch.tensor([[26.0, 32.0], [26.0, 10.0]])
    for _ in range(10):
        pos = two_rooms_step(pos, torch.tensor([[1.0, 0.0], [1.0, 0.0]]), walls)
    assert pos[0].tolist() == [46.0, 32.0]  # through the door into the right room
    assert pos[1].tolist() == [30.0, 10.0]  # stuck on the wall's left face


def test_step_is_the_same_for_any_batch_size() -> None:
    rng = np.random.default_rng(3)
    walls = random_walls(rng, 64)
    pos = torch.tensor(rng.uniform(4, 60, (64, 2)), dtype=torch.float32)
    pos[:, 0] = torch.where(pos[:, 0] < 32, 8.0, 56.0)
    action = torch.tensor(rng.normal(0, 1, (64, 2)), dtype=torch.float32)
    whole = two_rooms_step(pos, action, walls)
    for i in (0, 17, 63):
        one = two_rooms_step(
            pos[i : i + 1],
            action[i : i + 1],
            WallSpec(walls.wall_x[i : i + 1], walls.door_y[i : i + 1]),
        )
        assert torch.equal(one[0], whole[i])


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="pos \\[B, 2\\]"):
        two_rooms_step(torch.zeros(3), torch.zeros(3), WallSpec.fixed(1))
    with pytest.raises(ValueError, match="walls are for 2 worlds"):
        render_two_rooms(torch.zeros(3, 2), WallSpec.fixed(2))
    with pytest.raises(DreamlabError, match="unknown observation mode 'rbg'"):
        render_two_rooms(torch.zeros(1, 2), WallSpec.fixed(1), mode="rbg")


# ---- rendering ----


def test_render_shapes_dtypes_and_content() -> None:
    pos = torch.tensor([[10.0, 20.0], [50.0, 40.0]])
    walls = WallSpec.fixed(2)
    two = render_two_rooms(pos, walls, "2ch")
    rgb = render_two_rooms(pos, walls, "rgb")
    assert two.shape == (2, 2, 65, 65) and two.dtype == torch.uint8
    assert rgb.shape == (2, 65, 65, 3) and rgb.dtype == torch.uint8
    # The blob peaks at the dot's pixel (row y, column x) and is faint 6 px away.
    assert int(two[0, 0, 20, 10]) == 255 and int(two[0, 0, 20, 16]) < 5
    assert int(two[0, 0].argmax()) == 20 * 65 + 10
    # Wall channel: solid wall at x = 32 outside the door, open inside it, borders solid.
    assert int(two[0, 1, 10, 32]) == 255 and int(two[0, 1, 32, 32]) == 0
    assert (
        int(two[0, 1, 0, 40]) == 255
        and int(two[0, 1, 40, 64]) == 255
        and int(two[0, 1, 20, 20]) == 0
    )
    # RGB: red dot, grey wall, black background.
    r, g, b = rgb[1, 40, 50].tolist()
    assert r == 255 and g < 60 and b < 60
    assert rgb[0, 10, 32].tolist() == [200, 200, 200] and rgb[0, 20, 20].tolist() == [0, 0, 0]


def test_random_wall_moves_the_wall_and_the_door_in_the_frame() -> None:
    walls = WallSpec(torch.tensor([22.0]), torch.tensor([45.0]))
    frame = render_two_rooms(torch.tensor([[10.0, 10.0]]), walls, "2ch")[0, 1]
    assert int(frame[10, 22]) == 255 and int(frame[10, 32]) == 0
    assert int(frame[45, 22]) == 0 and int(frame[32, 22]) == 255


# ---- env ----


def test_env_reset_puts_start_and_goal_in_different_rooms() -> None:
    for random_wall in (True, False):
        env = TwoRoomsEnv(random_wall=random_wall)
        walls = set()
        for seed in range(60):
            _, info = env.reset(seed=seed)
            wall_x = float(info["wall"][0])
            walls.add(tuple(info["wall"].tolist()))
            start_room = info["position"][0] > wall_x
            goal_room = info["goal"][0] > wall_x
            assert start_room != goal_room
            for p in (info["position"], info["goal"]):
                assert abs(float(p[0]) - wall_x) >= 2 + 3 - 1e-5  # half thickness + margin
                assert p.min() >= 4 and p.max() <= 60
            assert info["distance"] > SUCCESS_DISTANCE and not info["success"]
        if random_wall:
            assert len(walls) == 60
            xs = [w[0] for w in walls]
            ys = [w[1] for w in walls]
            assert min(xs) >= 20 and max(xs) <= 44 and min(ys) >= 15 and max(ys) <= 49
        else:
            assert walls == {(32.0, 32.0)}


def test_goal_obs_is_the_frame_at_the_goal_and_obs_modes() -> None:
    for mode, shape in (("rgb", (65, 65, 3)), ("2ch", (2, 65, 65))):
        env = TwoRoomsEnv(obs_mode=mode, render_mode="rgb_array")
        obs, info = env.reset(seed=5)
        assert obs.shape == shape and obs.dtype == np.uint8 and env.observation_space.contains(obs)
        walls = WallSpec.from_tensor(torch.from_numpy(info["wall"][None]))
        goal = render_two_rooms(torch.from_numpy(info["goal"][None]), walls, mode)[0].numpy()
        assert np.array_equal(info["goal_obs"], goal)
        here = render_two_rooms(torch.from_numpy(info["position"][None]), walls, mode)[0].numpy()
        assert np.array_equal(obs, here)
        frame = env.render()
        assert frame.shape == (65, 65, 3) and frame.dtype == np.uint8


def test_reward_termination_and_truncation() -> None:
    env = two_rooms_fixed(max_steps=5)
    env.reset(seed=0)
    env.set_state(np.array([40.0, 40.0, 32.0, 32.0, 44.0, 40.0], dtype=np.float32))
    _, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert info["position"].tolist() == [42.0, 40.0]
    assert reward == pytest.approx(-2.0) and terminated and info["success"] and not truncated
    env.set_state(np.array([10.0, 10.0, 32.0, 32.0, 50.0, 50.0], dtype=np.float32))
    for t in range(4):
        *_, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
        assert not terminated and truncated == (t == 3)
    assert success([0.0, 0.0], [3.0, 3.0]) and not success([0.0, 0.0], [3.2, 3.2])


def test_get_state_set_state_round_trip() -> None:
    env = two_rooms(obs_mode="2ch")
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(7):
        env.step(rng.uniform(-1, 1, 2).astype(np.float32))
    saved = env.get_state()
    assert saved.shape == (6,) and saved.dtype == np.float32
    actions = rng.uniform(-1, 1, (10, 2)).astype(np.float32)
    first = [env.step(a)[0] for a in actions]
    env.set_state(saved)
    assert np.array_equal(env.get_state(), saved)
    again = [env.step(a)[0] for a in actions]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    with pytest.raises(DreamlabError, match="inside a wall"):
        env.set_state(np.array([32.0, 10.0, 32.0, 32.0, 50.0, 50.0], dtype=np.float32))
    with pytest.raises(DreamlabError, match="6 finite numbers"):
        env.set_state(np.zeros(4))


def test_states_reached_on_wall_faces_restore() -> None:
    env = two_rooms()
    on_face = 0
    for seed in range(20):
        _, info = env.reset(seed=seed)
        push = np.array([1.0 if info["goal"][0] > info["position"][0] else -1.0, 0.3], np.float32)
        for _ in range(30):
            _, _, _, _, info = env.step(push)
            env.set_state(env.get_state())  # never rejected as "inside a wall"
        half = env.thickness / 2
        on_face += int(abs(abs(float(info["position"][0] - info["wall"][0])) - half) < 1e-5)
    assert on_face > 5


def test_bad_options_raise_one_line() -> None:
    with pytest.raises(DreamlabError, match="unknown observation mode"):
        TwoRoomsEnv(obs_mode="gray")
    with pytest.raises(DreamlabError, match="thickness must be in"):
        TwoRoomsEnv(thickness=10)
    with pytest.raises(DreamlabError, match="action must be 2 finite numbers"):
        env = TwoRoomsEnv()
        env.reset(seed=0)
        env.step(np.zeros(3, dtype=np.float32))


@pytest.mark.filterwarnings("ignore:.*not having a spec")
def test_gymnasium_env_checker_passes() -> None:
    for kwargs in ({}, {"obs_mode": "2ch", "render_mode": "rgb_array"}, {"random_wall": False}):
        check_env(TwoRoomsEnv(**kwargs))  # type: ignore[arg-type]


# ---- the true-dynamics world model ----


def test_model_and_env_agree_exactly_step_by_step() -> None:
    env = TwoRoomsEnv(obs_mode="2ch", max_steps=1000)
    env.reset(seed=11)
    model = TwoRoomsModel.from_env(env)
    assert isinstance(model, WorldModel)
    state = TwoRoomsModel.state_of(env)
    assert state.z.shape == (1, 2) and state.z.dtype == torch.float32
    assert state.extras["wall"].shape == (1, 2)
    rng = np.random.default_rng(4)
    # Long pushes toward the wall and the door so that cuts happen, plus noise.
    actions = np.clip(rng.normal([0.6, 0.1], 0.7, (120, 2)), -1, 1).astype(np.float32)
    actions[60:] *= -1
    traj = rollout(model, state, torch.from_numpy(actions)[None])
    assert torch.equal(traj.reward, torch.zeros(1, 120)) and torch.equal(
        traj.cont, torch.ones(1, 120)
    )
    frames = model.decode(traj.states.index(0).map(lambda t: t[0]))  # [121, 2, 65, 65]
    cut = 0
    for t, a in enumerate(actions):
        obs, *_ = env.step(a)
        assert np.array_equal(traj.states.z[0, t + 1].numpy(), env.position)
        assert np.array_equal(frames[t + 1].numpy(), obs)
        cut += int(not np.allclose(traj.states.z[0, t + 1] - traj.states.z[0, t], 2 * a, atol=1e-5))
    assert cut > 0  # the sequence did hit walls or borders
    assert torch.equal(TwoRoomsModel.goal_features(env)[0], torch.from_numpy(env.goal))
    with pytest.raises(DreamlabError, match=r"use TwoRoomsModel\.state_of"):
        model.initial(torch.zeros(1, 2, 65, 65))


def test_greedy_straight_line_gets_stuck_while_a_path_through_the_door_succeeds() -> None:
    env = two_rooms_fixed()
    env.reset(seed=0)
    start = np.array([12.0, 12.0, 32.0, 32.0, 50.0, 12.0], dtype=np.float32)

    def drive(waypoints: list[tuple[float, float]], steps: int) -> dict:
        env.set_state(start)
        targets = [np.array(w, dtype=np.float32) for w in waypoints]
        info: dict = {}
        for _ in range(steps):
            while len(targets) > 1 and np.linalg.norm(targets[0] - env.position) < 0.5:
                targets.pop(0)
            _, _, terminated, _, info = env.step((targets[0] - env.position) / 2)
            if terminated:
                break
        return info

    greedy = drive([(50.0, 12.0)], 100)  # the goal is straight to the right, the door is not
    assert not greedy["success"] and greedy["position"].tolist() == [30.0, 12.0]
    planned = drive([(26.0, 32.0), (38.0, 32.0), (50.0, 12.0)], 100)
    assert planned["success"]


# ---- random-walk data ----


def test_generator_shapes_determinism_and_frames() -> None:
    data = generate_two_rooms(64, seed=7)
    assert data.obs.shape == (64, 17, 2, 65, 65) and data.obs.dtype == np.uint8
    assert data.actions.shape == (64, 16, 2) and data.actions.dtype == np.float32
    assert data.positions.shape == (64, 17, 2) and data.walls.shape == (64, 2)
    again = generate_two_rooms(64, seed=7)
    other = generate_two_rooms(64, seed=8)
    assert np.array_equal(data.obs, again.obs) and np.array_equal(data.actions, again.actions)
    assert not np.array_equal(data.positions, other.positions)
    # Frames are exactly the renderer's, positions exactly the dynamics'.
    walls = WallSpec.from_tensor(torch.from_numpy(data.walls))
    for t in (0, 9, 16):
        frame = render_two_rooms(torch.from_numpy(data.positions[:, t]), walls, "2ch").numpy()
        assert np.array_equal(frame, data.obs[:, t])
    for t in (0, 15):
        nxt = two_rooms_step(
            torch.from_numpy(data.positions[:, t]), torch.from_numpy(data.actions[:, t]), walls
        )
        assert torch.equal(nxt, torch.from_numpy(data.positions[:, t + 1]))
    rgb = generate_two_rooms(8, steps=5, obs_mode="rgb", random_wall=False, seed=1)
    assert rgb.obs.shape == (8, 5, 65, 65, 3) and np.all(rgb.walls == 32.0)
    assert len({tuple(w) for w in data.walls.tolist()}) == 64


def test_random_walk_step_lengths_and_starts() -> None:
    data = generate_two_rooms(1000, steps=17, obs_mode="2ch", seed=2)
    moved = np.linalg.norm(np.diff(data.positions, axis=1), axis=-1)  # [n, 16]
    intended = np.linalg.norm(2 * data.actions, axis=-1)
    assert intended.min() >= 0.2 - 1e-5 and intended.max() <= 1.8 + 1e-5
    free = np.isclose(moved, intended, atol=1e-4)
    assert free.mean() > 0.8  # most steps are not cut
    assert moved[free].min() >= 0.2 - 1e-4 and moved[free].max() <= 1.8 + 1e-4
    assert (moved[~free] < intended[~free]).all()  # cut steps are shorter
    # Headings turn smoothly: consecutive directions mostly within about 1 rad.
    ang = np.arctan2(data.actions[..., 1], data.actions[..., 0])
    turn = np.angle(np.exp(1j * np.diff(ang, axis=1)))
    assert np.median(np.abs(turn)) < 0.5
    walls = WallSpec.from_tensor(torch.from_numpy(data.walls))
    starts = torch.from_numpy(data.positions[:, 0])
    assert not bool(in_solid(starts, walls, tol=0).any())
    left_room = data.positions[:, 0, 0] < data.walls[:, 0]
    assert 0.2 < left_room.mean() < 0.8


def test_generator_makes_ten_thousand_trajectories_fast() -> None:
    start = time.perf_counter()
    data = generate_two_rooms(10_000, steps=17, seed=0)
    elapsed = time.perf_counter() - start
    assert data.obs.shape == (10_000, 17, 2, 65, 65)
    assert elapsed < 60, f"10,000 trajectories took {elapsed:.1f} s"


def test_generator_rejects_bad_sizes() -> None:
    with pytest.raises(DreamlabError, match="n >= 1 and steps >= 2"):
        generate_two_rooms(0)


def _assert_true_dynamics(data: TwoRoomsData) -> None:
    """Every recorded position is the true step of the recorded action from the one before."""
    spec = WallSpec.from_tensor(torch.from_numpy(data.walls))
    pos = torch.from_numpy(data.positions)
    for t in range(data.actions.shape[1]):
        nxt = two_rooms_step(pos[:, t], torch.from_numpy(data.actions[:, t]), spec)
        torch.testing.assert_close(nxt, pos[:, t + 1])


def _changed_rooms(data: TwoRoomsData) -> np.ndarray:
    left = data.positions[..., 0] < data.walls[:, None, 0]  # [n, T]
    return left[:, 0] != left[:, -1]


def test_crossing_walks_go_through_the_door_under_the_true_dynamics() -> None:
    uniform = generate_two_rooms(400, steps=17, seed=5)
    crossing = generate_two_rooms(400, steps=17, seed=5, cross_fraction=1.0)
    assert _changed_rooms(uniform).mean() < 0.1
    assert _changed_rooms(crossing).mean() > 0.8
    # still legal walks: actions of norm <= 0.9, positions the true step of the recorded actions
    assert np.linalg.norm(crossing.actions, axis=-1).max() <= 0.9 + 1e-6
    _assert_true_dynamics(crossing)
    with pytest.raises(DreamlabError, match="cross_fraction"):
        generate_two_rooms(4, cross_fraction=1.5)
    with pytest.raises(DreamlabError, match="wall_fraction"):
        generate_two_rooms(4, cross_fraction=0.6, wall_fraction=0.6)


def test_wall_walks_press_on_the_solid_wall_at_every_height() -> None:
    uniform = generate_two_rooms(400, steps=17, seed=5)
    pushed = generate_two_rooms(400, steps=17, seed=5, wall_fraction=1.0)

    def on_face(data: TwoRoomsData) -> np.ndarray:
        """Frames [n, T] whose dot touches a face of the wall outside the door."""
        x, y = data.positions[..., 0], data.positions[..., 1]
        wx, dy = data.walls[:, None, 0], data.walls[:, None, 1]
        touching = np.abs(np.abs(x - wx) - WALL_THICKNESS / 2) < 1e-3
        return touching & (np.abs(y - dy) > DOOR_GAP / 2)

    # uniform walks touch it in ~6% of their frames
    assert on_face(pushed).mean() > 0.3 > 3 * on_face(uniform).mean()
    # they touch the wall near the top and bottom borders too, not only near the door
    heights = pushed.positions[..., 1][on_face(pushed)]
    assert heights.min() < 12 and heights.max() > 52
    # the true dynamics, so only walks at the door's height change rooms
    _assert_true_dynamics(pushed)
    assert 0.05 < _changed_rooms(pushed).mean() < 0.5


def test_faster_walks_reach_the_planners_step_sizes_under_the_true_dynamics() -> None:
    slow = generate_two_rooms(300, steps=9, seed=2)
    fast = generate_two_rooms(300, steps=9, seed=2, max_speed=2.5)
    slow_norm = np.linalg.norm(slow.actions, axis=-1)
    fast_norm = np.linalg.norm(fast.actions, axis=-1)
    assert slow_norm.max() <= 0.9 + 1e-6 and (fast_norm > 0.95).mean() > 0.1
    assert fast_norm.max() <= 1.0 + 1e-6
    # the same walls, starts and headings: only the speed differs
    np.testing.assert_array_equal(slow.walls, fast.walls)
    np.testing.assert_array_equal(slow.positions[:, 0], fast.positions[:, 0])
    _assert_true_dynamics(fast)
    with pytest.raises(DreamlabError, match="max_speed"):
        generate_two_rooms(4, max_speed=0.5)
