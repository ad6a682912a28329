"""``make_env``: one way to build dreamlab's own environments and any gymnasium environment.

dreamlab's names (``"dyna_maze"``, ``"two-rooms"``, ``"sprites"``, ...) live in the plain dict
``ENVS``; they are also registered with gymnasium as ``"dreamlab/DynaMaze-v0"`` and friends, so
``gymnasium.make`` builds them too. Every other name goes to ``gymnasium.make``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium
from gymnasium.error import DependencyNotInstalled, UnregisteredEnv

from dreamlab.envs.doom import doom_take_cover
from dreamlab.envs.mazes import blocking_maze, dyna_maze, shortcut_maze
from dreamlab.envs.pixels import PixelObservation, missing_dependency_error
from dreamlab.envs.sprites import sprites
from dreamlab.envs.tictactoe import tictactoe
from dreamlab.envs.two_rooms import two_rooms, two_rooms_fixed
from dreamlab.errors import DreamlabError, unknown_choice

__all__ = [
    "ALIASES",
    "COMMON_GYMNASIUM_IDS",
    "ENVS",
    "EnvSpec",
    "describe_envs",
    "env_names",
    "make_env",
]


@dataclass(frozen=True)
class EnvSpec:
    """One of dreamlab's own environments: its name, the factory that builds it, one line about it."""

    name: str
    entry: Callable[..., gymnasium.Env]
    description: str
    gymnasium_id: str = ""


ENVS: dict[str, EnvSpec] = {
    spec.name: spec
    for spec in (
        EnvSpec(
            "dyna_maze",
            dyna_maze,
            "Sutton & Barto Example 8.1: 6x9 grid maze, 47 free cells, shortest path 14",
            "dreamlab/DynaMaze-v0",
        ),
        EnvSpec(
            "blocking_maze",
            blocking_maze,
            "Sutton & Barto Example 8.2: the short path (10) is blocked after 1000 steps (then 16)",
            "dreamlab/BlockingMaze-v0",
        ),
        EnvSpec(
            "shortcut_maze",
            shortcut_maze,
            "Sutton & Barto Example 8.3: a shortcut opens after 3000 steps (path 16 -> 10)",
            "dreamlab/ShortcutMaze-v0",
        ),
        EnvSpec(
            "two-rooms",
            two_rooms,
            "Two-Rooms (the Wall env of DINO-WM/PLDM/EB-JEPA): a dot, two rooms, a door; random wall",
            "dreamlab/TwoRooms-v0",
        ),
        EnvSpec(
            "two-rooms-fixed",
            two_rooms_fixed,
            "Two-Rooms with the wall and door fixed in the middle",
            "dreamlab/TwoRoomsFixed-v0",
        ),
        EnvSpec(
            "DoomTakeCover",
            doom_take_cover,
            "ViZDoom take_cover as in World Models: 64x64 frames, strafe left/right, +1 per frame alive",
            "dreamlab/DoomTakeCover-v0",
        ),
        EnvSpec(
            "sprites",
            sprites,
            "64x64 bouncing sprites and a controlled agent, optional spawn/recolour events (video)",
            "dreamlab/Sprites-v0",
        ),
        EnvSpec(
            "tictactoe",
            tictactoe,
            "Tic-tac-toe, two players in one env (legal moves and the player to move in info)",
            "dreamlab/TicTacToe-v0",
        ),
    )
}
"""dreamlab's own environments by name."""

ALIASES: dict[str, str] = {"cartpole": "CartPole-v1", "pendulum": "Pendulum-v1"}
"""Short names for common gymnasium ids (``--env cartpole``)."""

COMMON_GYMNASIUM_IDS: tuple[str, ...] = (
    "CartPole-v1",
    "Pendulum-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
)
"""gymnasium ids listed next to dreamlab's names when a name is unknown."""


def _register_with_gymnasium() -> None:
    """Register dreamlab's envs under the ``dreamlab/`` namespace; safe to call more than once."""
    for spec in ENVS.values():
        if spec.gymnasium_id and spec.gymnasium_id not in gymnasium.registry:
            entry = f"{spec.entry.__module__}:{spec.entry.__name__}"
            gymnasium.register(id=spec.gymnasium_id, entry_point=entry)


_register_with_gymnasium()


def env_names() -> list[str]:
    """dreamlab's own environment names, sorted."""
    return sorted(ENVS)


def describe_envs() -> list[tuple[str, str]]:
    """``(name, description)`` of each of dreamlab's own environments, sorted by name."""
    return [(name, ENVS[name].description) for name in env_names()]


def _unknown(name: str) -> DreamlabError:
    return unknown_choice(
        "environment",
        name,
        [*env_names(), *COMMON_GYMNASIUM_IDS],
        hint="or any registered gymnasium id",
    )


def _build(name: str, kwargs: dict[str, Any]) -> gymnasium.Env:
    """Build ``name`` with ``kwargs``, turning gymnasium's failures into one-line DreamlabErrors."""
    try:
        if name in ENVS:
            return ENVS[name].entry(**kwargs)
        if name.startswith("dmc/"):
            from dreamlab.envs.dmc import dmc  # dm_control loads only when asked for

            return dmc(name[4:], **kwargs)
        # "module:Env-v0" ids import their module first, so they cannot be checked in advance.
        if ":" not in name and name not in gymnasium.registry:
            if name.startswith("ALE/"):
                # The ALE namespace exists only once ale-py is installed (it registers the games).
                raise missing_dependency_error(name, DependencyNotInstalled("ale-py is missing"))
            raise _unknown(name)
        return gymnasium.make(name, **kwargs)
    except DependencyNotInstalled as exc:
        raise missing_dependency_error(name, exc) from None
    except (UnregisteredEnv, ModuleNotFoundError) as exc:
        if isinstance(exc, ModuleNotFoundError) and ":" not in name:
            raise  # a genuine import failure inside an env, not a bad name
        raise _unknown(name) from None
    except TypeError as exc:
        if not kwargs:
            raise  # without options a TypeError is a bug, not bad input
        # Unknown keyword options end up here (the factory or the env's __init__ rejects them).
        options = ", ".join(sorted(kwargs)) or "no options"
        raise DreamlabError(
            f"environment '{name}' cannot be built with options ({options}): {exc}"
        ) from None


def make_env(
    name: str,
    *,
    pixels: bool = False,
    size: int = 64,
    seed: int | None = None,
    **kwargs: Any,
) -> gymnasium.Env:
    """Build an environment by name: dreamlab's own (``env_names()``), a DeepMind Control Suite
    task as ``dmc/<domain>_<task>`` (``dmc/cartpole_swingup``), or any gymnasium id.

    ``pixels=True`` renders with ``render_mode="rgb_array"`` and makes the observation the frame,
    uint8 [size, size, 3] (``PixelObservation``). ``seed`` resets the env once with that seed and seeds
    its action space. Other keyword arguments go to the env's factory or ``gymnasium.make``.
    """
    if pixels:
        kwargs.setdefault("render_mode", "rgb_array")
    env = _build(ALIASES.get(name, name), kwargs)
    if pixels:
        env = PixelObservation(env, size=size)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env
