"""Pixel observations for any env that renders ``rgb_array`` frames.

``PixelObservation`` replaces each observation by the env's rendered frame resized to ``size x size``
uint8 pixels, the input of every image world model (Ha & Schmidhuber, DreamerV3, DIAMOND, ...). The
original observation is kept in ``info["state"]`` so probes can compare latents with the true state.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.error import DependencyNotInstalled
from PIL import Image

from dreamlab.errors import DreamlabError

__all__ = ["PixelObservation", "missing_dependency_error", "resize_frame"]

# Substrings of gymnasium's DependencyNotInstalled messages -> (package, dreamlab extra that installs it).
_EXTRAS = (
    ("mujoco", "MuJoCo", "mujoco"),
    ("box2d", "Box2D", "box2d"),
    ("pygame", "pygame", "classic-control"),
    ("classic-control", "pygame", "classic-control"),
    ("ale-py", "ale-py (Atari)", "atari"),
    ("ale_py", "ale-py (Atari)", "atari"),
    ("atari", "ale-py (Atari)", "atari"),
)


def missing_dependency_error(env_name: str, exc: Exception) -> DreamlabError:
    """A one-line error for an env that gymnasium knows but cannot build or render without a package."""
    text = str(exc).strip()
    lowered = text.lower()
    for needle, package, extra in _EXTRAS:
        if needle in lowered:
            return DreamlabError(
                f"environment '{env_name}' needs {package}, which is not installed; "
                f'install it with: pip install "dreamlab[{extra}]"'
            )
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return DreamlabError(
        f"environment '{env_name}' needs a package that is not installed: {first_line}"
    )


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB frame uint8 [Hh, W, 3] to uint8 [size, size, 3] (PIL bilinear, antialiased)."""
    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8).reshape(size, size, 3)


def _env_name(env: gymnasium.Env) -> str:
    return env.spec.id if env.spec is not None else type(env.unwrapped).__name__


class PixelObservation(gymnasium.ObservationWrapper):
    """Observations become the rendered frame, resized: uint8 [size, size, 3].

    The env must have been created with ``render_mode="rgb_array"``. The wrapped env's own
    observation is kept in ``info["state"]`` on reset and step.
    """

    def __init__(self, env: gymnasium.Env, size: int = 64) -> None:
        if env.render_mode != "rgb_array":
            raise DreamlabError(
                f"pixel observations need render_mode='rgb_array', but env "
                f"'{_env_name(env)}' has render_mode={env.render_mode!r}"
            )
        if size < 1:
            raise DreamlabError(f"pixel observation size must be positive, got {size}")
        super().__init__(env)
        self.size = size
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)

    def _frame(self) -> np.ndarray:
        """The full-size rendered frame, uint8 [Hh, W, 3]."""
        try:
            frame = self.env.render()
        except DependencyNotInstalled as exc:
            raise missing_dependency_error(_env_name(self.env), exc) from exc
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] != 3:
            raise DreamlabError(
                f"env '{_env_name(self.env)}' rendered {type(frame).__name__}, "
                "not an RGB array [height, width, 3]"
            )
        return frame

    def observation(self, observation: Any) -> np.ndarray:
        """The current frame resized to uint8 [size, size, 3]; the state observation is ignored."""
        return resize_frame(self._frame(), self.size)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env; return its frame and keep its state observation in ``info["state"]``."""
        state, info = self.env.reset(seed=seed, options=options)
        return self.observation(state), {**info, "state": state}

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        """Step the env; return its frame and keep its state observation in ``info["state"]``."""
        state, reward, terminated, truncated, info = self.env.step(action)
        return self.observation(state), reward, terminated, truncated, {**info, "state": state}

    def render(self) -> Any:
        """The full-size rendered frame."""
        return self._frame()
