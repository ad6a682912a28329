"""dreamlab.envs: the Sutton & Barto mazes cell for cell, make_env, and pixel observations."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dreamlab.envs import (
    BLOCKING_MAZE,
    DYNA_MAZE,
    ENVS,
    GridMaze,
    MazeLayout,
    PixelObservation,
    blocking_maze,
    describe_envs,
    dyna_maze,
    env_names,
    make_env,
    shortcut_maze,
    transition_table,
)
from dreamlab.errors import DreamlabError

UP, DOWN, RIGHT, LEFT = 0, 1, 2, 3


# ---- layouts: the book's numbers ----


def test_dyna_maze_matches_figure_8_2() -> None:
    assert (DYNA_MAZE.rows, DYNA_MAZE.cols) == (6, 9)
    assert len(DYNA_MAZE.free_states()) == 47
    assert DYNA_MAZE.start in DYNA_MAZE.free_states()
    assert DYNA_MAZE.goal in DYNA_MAZE.free_states()
    assert DYNA_MAZE.shortest_path_length() == 14
    assert DYNA_MAZE.render_ascii().splitlines() == [
        ".......#G",
        "..#....#.",
        "S.#....#.",
        "..#......",
        ".....#...",
        ".........",
    ]


def test_index_and_position_are_inverse() -> None:
    for s in range(DYNA_MAZE.rows * DYNA_MAZE.cols):
        assert DYNA_MAZE.index(DYNA_MAZE.position(s)) == s
    assert DYNA_MAZE.index((2, 3)) == 2 * 9 + 3


def test_moves_into_walls_and_edges_stay() -> None:
    assert DYNA_MAZE.move((2, 1), RIGHT) == (2, 1)  # (2, 2) is a wall
    assert DYNA_MAZE.move((0, 6), RIGHT) == (0, 6)  # (0, 7) is a wall
    assert DYNA_MAZE.move((0, 0), UP) == (0, 0)  # top edge
    assert DYNA_MAZE.move((2, 0), LEFT) == (2, 0)  # left edge
    assert DYNA_MAZE.move((5, 8), DOWN) == (5, 8)  # bottom edge
    assert DYNA_MAZE.move((5, 8), RIGHT) == (5, 8)  # right edge
    assert DYNA_MAZE.move((2, 0), UP) == (1, 0)
    assert DYNA_MAZE.move((2, 0), DOWN) == (3, 0)
    assert DYNA_MAZE.move((2, 0), RIGHT) == (2, 1)
    assert DYNA_MAZE.move((2, 1), LEFT) == (2, 0)


def test_bad_layouts_raise() -> None:
    with pytest.raises(DreamlabError, match="wall"):
        MazeLayout(3, 3, start=(0, 0), goal=(2, 2), walls=frozenset({(0, 0)}))
    with pytest.raises(DreamlabError, match="outside"):
        MazeLayout(3, 3, start=(0, 0), goal=(3, 3), walls=frozenset())
    cut_off = MazeLayout(3, 3, start=(0, 0), goal=(2, 2), walls=frozenset({(1, 0), (1, 1), (1, 2)}))
    with pytest.raises(DreamlabError, match="cannot be reached"):
        cut_off.shortest_path_length()


# ---- stepping the env ----


def test_reward_and_termination_only_on_entering_goal() -> None:
    env = dyna_maze()
    goal = DYNA_MAZE.goal
    free = DYNA_MAZE.free_states()
    entering = []
    for pos in free:
        if pos == goal:
            continue
        for action in range(4):
            env.reset(options={"position": pos})
            obs, reward, terminated, truncated, info = env.step(action)
            assert truncated is False
            assert info["position"] == DYNA_MAZE.position(obs)
            if terminated:
                assert reward == 1.0
                assert info["position"] == goal
                entering.append((pos, action))
            else:
                assert reward == 0.0
    # (0, 7) is a wall, so the goal is entered only from below.
    assert entering == [((1, 8), UP)]


def test_reset_returns_start_and_episode_runs_to_goal() -> None:
    env = dyna_maze()
    obs, info = env.reset(seed=0)
    assert obs == DYNA_MAZE.index((2, 0)) and info["position"] == (2, 0)
    # A 16-step path: up to row 0, right to (0, 6), down round the wall at column 7, up to the goal.
    path = [UP, UP, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT]  # (0, 6)
    path += [DOWN, DOWN, DOWN, RIGHT, RIGHT, UP, UP, UP]  # (3, 6) -> (3, 8) -> (0, 8)
    assert len(path) == 16
    rewards = []
    for i, action in enumerate(path):
        obs, reward, terminated, _, _ = env.step(action)
        rewards.append(reward)
        assert terminated == (i == len(path) - 1)
    assert obs == DYNA_MAZE.index(DYNA_MAZE.goal)
    assert sum(rewards) == 1.0
    obs, _ = env.reset()
    assert obs == DYNA_MAZE.index(DYNA_MAZE.start)
    assert env.total_steps == len(path)  # the clock survives reset


def test_transition_table_agrees_with_env() -> None:
    for layout, env in ((DYNA_MAZE, dyna_maze()), (BLOCKING_MAZE, blocking_maze(change_at=10**9))):
        next_state, reward, terminal = transition_table(layout)
        num_states = layout.rows * layout.cols
        assert next_state.shape == reward.shape == terminal.shape == (num_states, 4)
        assert terminal.dtype == np.bool_
        for s in range(num_states):
            for a in range(4):
                env.reset(options={"position": layout.position(s)})
                obs, r, term, _, _ = env.step(a)
                assert (next_state[s, a], reward[s, a], terminal[s, a]) == (obs, r, term), (s, a)
        # Free cells never lead into a wall.
        walls = {layout.index(w) for w in layout.walls}
        free = [layout.index(p) for p in layout.free_states()]
        assert not walls & set(next_state[free].ravel().tolist())
        assert terminal.sum() == int((next_state == layout.index(layout.goal)).sum())


# ---- the changing mazes (the book's global clock) ----


def _drive(env: GridMaze, steps: int, seed: int = 0) -> list[int]:
    """Step with a fixed pseudo-random action sequence; return the path length after each step."""
    actions = np.random.default_rng(seed).integers(0, 4, size=steps)
    env.reset(seed=seed)
    lengths = []
    for action in actions:
        _, _, terminated, _, _ = env.step(int(action))
        lengths.append(env.layout.shortest_path_length())
        if terminated:
            env.reset()
    return lengths


def test_blocking_maze_changes_exactly_at_step_1000() -> None:
    env = blocking_maze()
    assert env.layout.shortest_path_length() == 10
    lengths = _drive(env, 1001)
    assert env.total_steps == 1001
    # lengths[i] is measured after step i + 1: steps 1..999 in the old layout, the switch right after 1000.
    assert lengths[:999] == [10] * 999
    assert lengths[999:] == [16, 16]
    assert env.layout.walls == frozenset((3, c) for c in range(1, 9))


def test_shortcut_maze_changes_exactly_at_step_3000() -> None:
    env = shortcut_maze()
    assert env.layout.shortest_path_length() == 16
    lengths = _drive(env, 3001, seed=1)
    assert lengths[:2999] == [16] * 2999
    assert lengths[2999:] == [10, 10]
    assert env.layout.walls == frozenset((3, c) for c in range(1, 8))


def test_step_that_reaches_change_at_is_the_last_in_the_old_layout() -> None:
    env = blocking_maze(change_at=3)
    env.reset(options={"position": (4, 7)})
    env.step(UP)  # (3, 7) is a wall before the change: stay
    assert env.position == (4, 7)
    env.step(RIGHT)  # (4, 8)
    env.step(UP)  # step 3 == change_at, still the old layout: (3, 8) is free
    assert env.position == (3, 8) and env.total_steps == 3
    assert (3, 8) in env.layout.walls  # the layout changed under the agent
    _, _, _, _, info = env.step(UP)  # it can walk out of the new wall
    assert info["position"] == (2, 8)
    env.step(DOWN)  # but not back in
    assert env.position == (2, 8)


def test_reset_keeps_the_clock_and_the_changed_layout() -> None:
    env = shortcut_maze(change_at=5)
    for _ in range(5):
        env.step(LEFT)
    env.reset(seed=123)
    assert env.total_steps == 5
    assert env.layout.shortest_path_length() == 10


# ---- gymnasium compatibility ----


@pytest.mark.filterwarnings("ignore:.*not having a spec")
def test_gymnasium_env_checker_passes() -> None:
    for factory in (dyna_maze, blocking_maze, shortcut_maze):
        for render_mode in (None, "ansi", "rgb_array"):
            check_env(factory(render_mode=render_mode))
    # Through gymnasium.make the env has a spec, so the checker also builds every render mode.
    for spec in ENVS.values():
        check_env(gymnasium.make(spec.gymnasium_id, render_mode="rgb_array").unwrapped)


def test_renders() -> None:
    env = dyna_maze(render_mode="rgb_array")
    env.reset()
    frame = env.render()
    assert frame.shape == (6 * 8, 9 * 8, 3) and frame.dtype == np.uint8
    # The agent's cell (2, 0) is blue, the goal (0, 8) green, the wall (1, 2) dark.
    agent, goal, wall = frame[2 * 8 + 4, 4], frame[4, 8 * 8 + 4], frame[8 + 4, 2 * 8 + 4]
    assert agent[2] > agent[0] and goal[1] > goal[0] and wall.max() < 100
    text = dyna_maze(render_mode="ansi")
    text.reset()
    assert text.render().splitlines()[2] == "A.#....#."


def test_gymnasium_ids_are_registered() -> None:
    env = gymnasium.make("dreamlab/BlockingMaze-v0", change_at=7)
    assert isinstance(env.unwrapped, GridMaze)
    assert env.unwrapped.change_at == 7
    for spec in ENVS.values():
        assert spec.gymnasium_id in gymnasium.registry


# ---- make_env ----


def test_make_env_builds_mazes_and_gymnasium_ids() -> None:
    assert {"blocking_maze", "dyna_maze", "shortcut_maze", "two-rooms", "sprites"} <= set(
        env_names()
    )
    assert [name for name, _ in describe_envs()] == env_names()
    for name in env_names():
        env = make_env(name, seed=0)
        assert isinstance(env, GridMaze) == name.endswith("_maze")
        obs, _ = env.reset()
        assert env.observation_space.contains(obs)
    assert make_env("blocking_maze", change_at=5).change_at == 5
    cartpole = make_env("CartPole-v1", seed=3)
    obs, _ = cartpole.reset(seed=3)
    assert obs.shape == (4,)
    obs, *_ = cartpole.step(cartpole.action_space.sample())
    assert cartpole.observation_space.contains(obs)


def test_make_env_seed_makes_runs_reproducible() -> None:
    a, b = make_env("CartPole-v1", seed=7), make_env("CartPole-v1", seed=7)
    assert [a.action_space.sample() for _ in range(20)] == [
        b.action_space.sample() for _ in range(20)
    ]


@pytest.mark.parametrize("name", ["dyna-maze", "CartPole-v99", "NoSuchEnv-v0", "nope:Env-v0"])
def test_unknown_env_names_raise_one_line(name: str) -> None:
    with pytest.raises(DreamlabError) as info:
        make_env(name)
    message = str(info.value)
    assert "\n" not in message
    assert name in message and "dyna_maze" in message and "CartPole-v1" in message


def test_unknown_option_raises_one_line() -> None:
    with pytest.raises(DreamlabError, match="foo") as info:
        make_env("dyna_maze", foo=1)
    assert "\n" not in str(info.value)


def test_missing_package_names_the_extra() -> None:
    for name, extra in (("HalfCheetah-v5", "mujoco"), ("LunarLander-v3", "box2d")):
        try:
            env = make_env(name)
        except DreamlabError as exc:
            assert "\n" not in str(exc)
            assert f'pip install "dreamlab[{extra}]"' in str(exc)
        else:  # the package is installed here: the env simply works
            env.close()


# ---- pixels ----


@pytest.mark.parametrize("name", ["CartPole-v1", "dyna_maze", "Pendulum-v1"])
def test_pixel_observations(name: str) -> None:
    env = make_env(name, pixels=True, seed=0)
    assert env.observation_space == gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert "state" in info
    frames = [obs]
    for _ in range(3):
        obs, _, _, _, info = env.step(env.action_space.sample())
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
        assert env.observation_space.contains(obs)
        frames.append(obs)
    # A real picture, not a blank: several colours, and it changes as the state changes.
    assert len(np.unique(frames[0].reshape(-1, 3), axis=0)) > 3
    assert any(not np.array_equal(frames[0], f) for f in frames[1:]) or name == "dyna_maze"


def test_pixel_observation_size_and_wrapper_directly() -> None:
    env = PixelObservation(dyna_maze(render_mode="rgb_array"), size=32)
    obs, info = env.reset()
    assert obs.shape == (32, 32, 3)
    assert info["state"] == DYNA_MAZE.index(DYNA_MAZE.start)
    moved, *_ = env.step(DOWN)
    assert not np.array_equal(obs, moved)
    assert env.render().shape == (48, 72, 3)


def test_pixel_observation_needs_rgb_array() -> None:
    with pytest.raises(DreamlabError, match="rgb_array") as info:
        PixelObservation(gymnasium.make("CartPole-v1"))
    assert "CartPole-v1" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DreamlabError, match=r"dyna_maze|GridMaze"):
        PixelObservation(dyna_maze(render_mode="ansi"))
