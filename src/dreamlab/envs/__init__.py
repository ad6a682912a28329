"""Environments: dreamlab's own (Sutton & Barto mazes), ``make_env`` for any gymnasium id, pixel wrappers."""

from __future__ import annotations

from dreamlab.envs.mazes import (
    ACTION_NAMES,
    BLOCKING_CHANGE_AT,
    BLOCKING_MAZE,
    BLOCKING_MAZE_CHANGED,
    DYNA_MAZE,
    SHORTCUT_CHANGE_AT,
    SHORTCUT_MAZE,
    SHORTCUT_MAZE_CHANGED,
    GridMaze,
    MazeLayout,
    blocking_maze,
    dyna_maze,
    shortcut_maze,
    transition_table,
)
from dreamlab.envs.pixels import PixelObservation, missing_dependency_error, resize_frame
from dreamlab.envs.registry import (
    COMMON_GYMNASIUM_IDS,
    ENVS,
    EnvSpec,
    describe_envs,
    env_names,
    make_env,
)

__all__ = [
    "ACTION_NAMES",
    "BLOCKING_CHANGE_AT",
    "BLOCKING_MAZE",
    "BLOCKING_MAZE_CHANGED",
    "COMMON_GYMNASIUM_IDS",
    "DYNA_MAZE",
    "ENVS",
    "SHORTCUT_CHANGE_AT",
    "SHORTCUT_MAZE",
    "SHORTCUT_MAZE_CHANGED",
    "EnvSpec",
    "GridMaze",
    "MazeLayout",
    "PixelObservation",
    "blocking_maze",
    "describe_envs",
    "dyna_maze",
    "env_names",
    "make_env",
    "missing_dependency_error",
    "resize_frame",
    "shortcut_maze",
    "transition_table",
]
