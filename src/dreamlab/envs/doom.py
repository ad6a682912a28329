"""DoomTakeCover: ViZDoom's take_cover scenario as World Models played it.

Fireballs fly from monsters across the room; the player strafes left or right to dodge them and
scores one point per frame (game tic) alive. As in Ha & Schmidhuber (2018):

- observation: the screen resized to 64x64 RGB uint8 (HUD off);
- action: one number a in [-1, 1]; a < -1/3 strafes left, a > 1/3 strafes right, else stands still;
- reward: +1 per frame survived; the episode ends at death or after ``max_frames`` = 2100 frames
  (one minute of play), so a score is the number of frames survived, at most 2100.

The ``vizdoom`` package ships the scenario and runs headless; it is the ``doom`` extra.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from dreamlab.envs.pixels import resize_frame
from dreamlab.errors import DreamlabError

__all__ = ["ACTION_THRESHOLD", "DoomTakeCoverEnv", "doom_buttons", "doom_take_cover"]

ACTION_THRESHOLD = 1.0 / 3.0
"""|a| above this strafes (the paper's mapping of the tanh output to three moves)."""


def doom_buttons(action: float) -> list[int]:
    """[MOVE_LEFT, MOVE_RIGHT] pressed for a continuous action in [-1, 1]."""
    return [int(action < -ACTION_THRESHOLD), int(action > ACTION_THRESHOLD)]


class DoomTakeCoverEnv(gymnasium.Env[np.ndarray, np.ndarray]):
    """take_cover with 64x64 frames, a continuous action in [-1, 1] and the paper's 2100-frame cap."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 35}  # noqa: RUF012

    def __init__(
        self, size: int = 64, max_frames: int = 2100, render_mode: str | None = None
    ) -> None:
        try:
            import vizdoom
        except ModuleNotFoundError:
            raise DreamlabError(
                "environment 'DoomTakeCover' needs vizdoom, which is not installed; "
                'install it with: pip install "dreamlab[doom]"'
            ) from None
        self.size = size
        self.max_frames = max_frames
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0, 255, (size, size, 3), dtype=np.uint8)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        game = vizdoom.DoomGame()
        game.load_config(os.path.join(vizdoom.scenarios_path, "take_cover.cfg"))
        game.set_screen_resolution(vizdoom.ScreenResolution.RES_160X120)
        game.set_screen_format(vizdoom.ScreenFormat.RGB24)
        game.set_window_visible(False)
        game.set_sound_enabled(False)
        game.set_render_hud(False)
        game.set_render_screen_flashes(True)  # a hit shows as a red flash, which V and M can see
        game.set_mode(vizdoom.Mode.PLAYER)
        # The engine writes its settings file; keep it out of the user's working directory.
        game.set_doom_config_path(os.path.join(tempfile.gettempdir(), "dreamlab_vizdoom.ini"))
        self._game = game
        self._started = False
        self._frames = 0
        self._frame = np.zeros((size, size, 3), np.uint8)

    def _observe(self) -> np.ndarray:
        state = self._game.get_state()
        if state is not None:  # None once the player is dead: keep the last frame
            self._frame = resize_frame(state.screen_buffer, self.size)
        return self._frame.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode; ``seed`` fixes the monsters' behaviour for this and later episodes."""
        super().reset(seed=seed)
        if not self._started:
            # The engine makes a _vizdoom folder in its working directory: start it in the temp dir.
            here = os.getcwd()
            os.chdir(tempfile.gettempdir())
            try:
                self._game.init()
            finally:
                os.chdir(here)
            self._started = True
        if seed is not None:
            # After init: a seed set before init does not give the same game as one set later.
            self._game.set_seed(int(seed) % (2**31))
        self._game.new_episode()
        self._frames = 0
        return self._observe(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one frame with the paper's action mapping; +1 reward for every frame played."""
        if not self._started:
            raise DreamlabError("DoomTakeCover: call reset() before step()")
        a = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        self._game.make_action(doom_buttons(a), 1)
        self._frames += 1
        terminated = self._game.is_episode_finished() or self._game.is_player_dead()
        truncated = not terminated and self._frames >= self.max_frames
        return self._observe(), 1.0, terminated, truncated, {"frames": self._frames}

    def render(self) -> np.ndarray:
        """The current 64x64 frame."""
        return self._frame.copy()

    def close(self) -> None:
        """Shut the game engine down."""
        if self._started:
            self._game.close()
            self._started = False


def doom_take_cover(**kwargs: Any) -> DoomTakeCoverEnv:
    """Factory for the registry."""
    return DoomTakeCoverEnv(**kwargs)
