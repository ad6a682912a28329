"""DeepMind Control Suite tasks as gymnasium environments: ``make_env("dmc/cartpole_swingup")``.

Observations are the task's proprioceptive arrays flattened into one float32 vector [D]; actions are
the task's box (DMC's are all [-1, 1]); the time limit (1,000 steps) ends an episode as a truncation,
never as a termination, as in the suite. ``render_mode="rgb_array"`` renders ``size`` x ``size``
frames from ``camera`` with shadows, reflections, the skybox and multisampling off, which makes
MuJoCo's offscreen rendering fast on a CPU (set MUJOCO_GL=egl or osmesa for headless machines;
egl is chosen when nothing is set). With ``make_env(..., pixels=True)`` the frame becomes the
observation.

Needs ``dm_control`` (1.0.50 works with mujoco 3.x; mujoco 4 breaks it).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.error import DependencyNotInstalled

from dreamlab.errors import DreamlabError, unknown_choice

__all__ = ["DMCEnv", "dmc_tasks"]


def _suite() -> Any:
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        from dm_control import suite
    except ImportError as exc:
        raise DependencyNotInstalled(
            f"dm_control is missing ({exc}): pip install 'dm_control==1.0.50' 'mujoco<4'"
        ) from None
    return suite


def dmc_tasks() -> list[str]:
    """Every suite task as ``domain_task`` (``cartpole_swingup``, ``ball_in_cup_catch``, ...)."""
    return sorted(f"{d}_{t}" for d, t in _suite().ALL_TASKS)


class DMCEnv(gymnasium.Env):
    """One DMC task; ``task`` is ``domain_task`` as listed by ``dmc_tasks()``."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012

    def __init__(
        self, task: str, render_mode: str | None = None, size: int = 64, camera: int = 0
    ) -> None:
        suite = _suite()
        pairs = {f"{d}_{t}": (d, t) for d, t in suite.ALL_TASKS}
        if task not in pairs:
            raise unknown_choice("DMC task", task, sorted(pairs))
        if render_mode not in (None, "rgb_array"):
            raise DreamlabError(f"DMC renders rgb_array frames only, not {render_mode!r}")
        self.task, self.render_mode, self.size, self.camera = task, render_mode, size, camera
        self._env = suite.load(*pairs[task], task_kwargs={"random": 0})
        spec = self._env.action_spec()
        self.action_space = spaces.Box(
            spec.minimum.astype(np.float32), spec.maximum.astype(np.float32), dtype=np.float32
        )
        dim = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())
        self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        self._camera: Any = None

    def _obs(self, time_step: Any) -> np.ndarray:
        return np.concatenate(
            [np.asarray(v, np.float32).reshape(-1) for v in time_step.observation.values()]
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A new episode; ``seed`` reseeds the task's initial-state randomness."""
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed)
        return self._obs(self._env.reset()), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One control step; the suite's time limit is a truncation."""
        ts = self._env.step(np.asarray(action, np.float64))
        terminated = bool(ts.last() and ts.discount == 0.0)
        truncated = bool(ts.last() and not terminated)
        return self._obs(ts), float(ts.reward or 0.0), terminated, truncated, {}

    def render(self) -> np.ndarray:
        """The current frame, uint8 [size, size, 3]."""
        if self._camera is None:
            import mujoco
            from dm_control.mujoco.engine import Camera

            physics = self._env.physics
            physics.model.vis.quality.offsamples = 0
            self._camera = Camera(physics, self.size, self.size, self.camera)
            for flag in ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX"):
                self._camera._scene.flags[getattr(mujoco.mjtRndFlag, flag)] = 0
        return np.asarray(self._camera.render(), np.uint8)

    def close(self) -> None:
        """Release the renderer and the simulation."""
        if self._camera is not None:
            self._camera._render_context = None
            self._camera = None
        self._env.close()


def dmc(task: str, **kwargs: Any) -> DMCEnv:
    """The factory ``make_env`` calls for ``dmc/<task>`` names."""
    return DMCEnv(task, **kwargs)
