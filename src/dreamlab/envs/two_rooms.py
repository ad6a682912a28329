"""Two-Rooms: the "Wall" environment of DINO-WM (Zhou et al., 2024), PLDM (Sobal et al., 2025) and EB-JEPA.

A dot moves on a 65 x 65 canvas split into two rooms by a vertical wall with one door. World models
train on random-walk frames and plan from a start in one room to a goal in the other; a greedy
straight line gets stuck on the wall whenever the door is off the line, so planning needs horizon.

Geometry (pixel coordinates: x is the column, y the row, pixel (row i, col j) is centred on (j, i)):

- The dot's centre (x, y) is continuous and stays in ``[4, 60]`` in both axes (the borders).
- The wall is the vertical slab ``wall_x - thickness / 2 < x < wall_x + thickness / 2``; it is solid
  except for the door, ``door_y - door_gap / 2 <= y <= door_y + door_gap / 2``. The faces of the slab
  (x exactly on ``wall_x +- thickness / 2``) are free, so the dot can touch and slide along them.
- Collisions treat the dot as its centre. Frames draw exactly the region the centre cannot enter
  (borders and solid wall), antialiased by pixel coverage, and the dot as a Gaussian blob (sigma 1.5 px).

Dynamics (``two_rooms_step``, the one implementation used by the env, the model and the generator):
the action is clipped to norm <= 1 and the target is ``pos + 2 * action``, so a step moves at most
2 px. Then, in this order:

1. Borders: each coordinate of the target is clipped to ``[4, 60]`` (the normal component is cut at
   the border, the tangential one kept: the dot slides along it).
2. Wall plane: if the straight segment from ``pos`` to the target enters the slab from a side at a
   height outside the door, only x is cut: the dot stops on the face it touched, ``x = wall_x -+
   thickness / 2``, and keeps the target's y (it slides along the wall).
3. Door jambs: if the segment enters through the door (or starts inside the door corridor) but its
   height leaves the door while x is still inside the slab, only y is cut: ``y`` is clipped to the
   door's range and x is kept.

So a move never ends inside solid wall and never passes through it; crossing happens only through the
door. The environment's reward is ``-distance`` to the goal; an episode succeeds (and terminates) when
the distance is below ``SUCCESS_DISTANCE`` = 4.5 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.protocols import WorldModel
from dreamlab.train.progress import progress_bar
from dreamlab.types import State, StepOut

__all__ = [
    "BORDER_HIGH",
    "BORDER_LOW",
    "DOOR_GAP",
    "DOOR_Y_RANGE",
    "DOT_SIGMA",
    "FIXED_DOOR_Y",
    "FIXED_WALL_X",
    "IMAGE_SIZE",
    "OBS_MODES",
    "STEP_SCALE",
    "SUCCESS_DISTANCE",
    "WALL_THICKNESS",
    "WALL_X_RANGE",
    "TwoRoomsData",
    "TwoRoomsEnv",
    "TwoRoomsModel",
    "WallSpec",
    "clip_action",
    "generate_two_rooms",
    "render_two_rooms",
    "success",
    "two_rooms",
    "two_rooms_fixed",
    "two_rooms_step",
]

IMAGE_SIZE = 65
"""Height and width of every frame."""
BORDER_LOW, BORDER_HIGH = 4.0, 60.0
"""The dot's centre stays in [BORDER_LOW, BORDER_HIGH] in both x and y."""
STEP_SCALE = 2.0
"""Pixels moved per unit of action: next = pos + STEP_SCALE * action (action norm <= 1)."""
WALL_THICKNESS = 4.0
"""Default wall thickness in px (the papers use 3 to 6)."""
DOOR_GAP = 9.0
"""Default height of the door in px."""
FIXED_WALL_X, FIXED_DOOR_Y = 32.0, 32.0
"""Wall centre x and door centre y of the fixed-wall variant."""
WALL_X_RANGE = (20.0, 44.0)
"""Range of the wall centre x in the random-wall variant (keeps both rooms usable)."""
DOOR_Y_RANGE = (15.0, 49.0)
"""Range of the door centre y in the random-wall variant."""
DOT_SIGMA = 1.5
"""Standard deviation in px of the Gaussian blob that draws the dot."""
SUCCESS_DISTANCE = 4.5
"""A goal is reached when the dot's centre is closer than this (px)."""
GOAL_MARGIN = 3.0
"""Starts and goals keep at least this distance (px) from the wall's faces."""
OBS_MODES = ("rgb", "2ch")
"""Observation modes: RGB uint8 [65, 65, 3] or two channels uint8 [2, 65, 65] (dot, walls)."""

# RGB colours: black background, light grey walls and borders, a red dot drawn on top.
_WALL_RGB = (200.0, 200.0, 200.0)
_DOT_RGB = (255.0, 40.0, 40.0)
_THICKNESS_RANGE = (3.0, 6.0)
_MAX_DOOR_GAP = 20.0  # keeps the door inside the borders for every door_y in DOOR_Y_RANGE


def _check_mode(mode: str) -> None:
    if mode not in OBS_MODES:
        raise unknown_choice("observation mode", mode, OBS_MODES)


@dataclass(frozen=True)
class WallSpec:
    """The walls of B worlds: wall centre x [B] and door centre y [B], one thickness and door gap.

    The solid wall is ``left < x < right`` with ``y`` outside ``[door_lo, door_hi]`` (see ``bounds``).
    """

    wall_x: Tensor  # [B]
    door_y: Tensor  # [B]
    thickness: float = WALL_THICKNESS
    door_gap: float = DOOR_GAP

    def __post_init__(self) -> None:
        if self.wall_x.dim() != 1 or self.door_y.shape != self.wall_x.shape:
            raise ValueError(
                f"WallSpec needs wall_x [B] and door_y [B], got {tuple(self.wall_x.shape)} and "
                f"{tuple(self.door_y.shape)}"
            )
        if not self.thickness > 0 or not self.door_gap > 0:
            raise DreamlabError(
                f"wall thickness and door gap must be positive, got {self.thickness} and "
                f"{self.door_gap}"
            )

    @staticmethod
    def from_tensor(
        wall: Tensor, thickness: float = WALL_THICKNESS, door_gap: float = DOOR_GAP
    ) -> WallSpec:
        """Walls from a tensor [B, 2] of (wall centre x, door centre y)."""
        if wall.dim() != 2 or wall.shape[1] != 2:
            raise ValueError(f"walls must be [B, 2] (wall x, door y), got {tuple(wall.shape)}")
        return WallSpec(wall[:, 0], wall[:, 1], thickness, door_gap)

    @staticmethod
    def fixed(
        batch: int, thickness: float = WALL_THICKNESS, door_gap: float = DOOR_GAP
    ) -> WallSpec:
        """B copies of the fixed wall (centre x = 32, door centre y = 32), float32."""
        return WallSpec(
            torch.full((batch,), FIXED_WALL_X),
            torch.full((batch,), FIXED_DOOR_Y),
            thickness,
            door_gap,
        )

    @property
    def batch_size(self) -> int:
        """B."""
        return int(self.wall_x.shape[0])

    def as_tensor(self) -> Tensor:
        """(wall centre x, door centre y) as [B, 2]."""
        return torch.stack([self.wall_x, self.door_y], dim=-1)

    def bounds(
        self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``left, right, door_lo, door_hi``, each [B]: the slab's faces and the door's range."""
        wx = self.wall_x.to(dtype=dtype, device=device)
        dy = self.door_y.to(dtype=dtype, device=device)
        half_t, half_g = self.thickness / 2, self.door_gap / 2
        return wx - half_t, wx + half_t, dy - half_g, dy + half_g


def clip_action(action: Tensor) -> Tensor:
    """Scale each action [B, 2] down to norm <= 1 (shorter actions are unchanged)."""
    # Elementwise norm (no reduction kernel) so every batch size gives bit-identical results.
    norm = torch.sqrt(action[..., 0] * action[..., 0] + action[..., 1] * action[..., 1])
    scale = (1.0 / norm).clamp(max=1.0)  # norm 0 -> inf -> 1
    return action * scale.unsqueeze(-1)


def two_rooms_step(pos: Tensor, action: Tensor, walls: WallSpec) -> Tensor:
    """The true dynamics: positions [B, 2] and actions [B, 2] -> next positions [B, 2].

    Computed in ``pos``'s dtype (float32 or float64). ``pos`` must be free space. See the module
    docstring for the rule: borders clip each coordinate, the wall plane cuts only x, the door's
    jambs cut only y.
    """
    if pos.dim() != 2 or pos.shape[1] != 2 or action.shape != pos.shape:
        raise ValueError(
            f"two_rooms_step needs pos [B, 2] and action [B, 2], got {tuple(pos.shape)} and "
            f"{tuple(action.shape)}"
        )
    if walls.batch_size != pos.shape[0]:
        raise ValueError(f"walls are for {walls.batch_size} worlds, pos for {pos.shape[0]}")
    a = clip_action(action.to(dtype=pos.dtype, device=pos.device))
    target = (pos + STEP_SCALE * a).clamp(BORDER_LOW, BORDER_HIGH)
    left, right, door_lo, door_hi = walls.bounds(pos.dtype, pos.device)
    px, py = pos[:, 0], pos[:, 1]
    qx, qy = target[:, 0], target[:, 1]
    dx = qx - px
    safe_dx = torch.where(dx == 0, torch.ones_like(dx), dx)

    p_left, p_right = px <= left, px >= right
    p_in = ~(p_left | p_right)  # inside the door corridor
    enters = p_in | (p_left & (qx > left)) | (p_right & (qx < right))
    # Where the segment meets the face it enters through (t_in = 0 when it starts inside).
    face_in = torch.where(p_left, left, right)
    t_in = torch.where(p_in, torch.zeros_like(px), (face_in - px) / safe_dx)
    y_in = py + t_in * (qy - py)
    in_door = (y_in >= door_lo) & (y_in <= door_hi)
    blocked = enters & ~p_in & ~in_door

    # Height where the segment leaves the slab, or the target's own height if it ends inside.
    exit_face = torch.where(dx > 0, right, left)
    t_out = torch.where(dx == 0, torch.ones_like(px), (exit_face - px) / safe_dx)
    ends_inside = t_out >= 1
    y_out = torch.where(ends_inside, qy, py + t_out * (qy - py))
    jamb = enters & ~blocked & ((y_out < door_lo) | (y_out > door_hi))

    x = torch.where(blocked, face_in, qx)
    y = torch.where(jamb, torch.minimum(torch.maximum(qy, door_lo), door_hi), qy)
    return torch.stack([x, y], dim=-1)


def _coverage(lo: Tensor, hi: Tensor, centres: Tensor) -> Tensor:
    """Fraction of each pixel [c - 0.5, c + 0.5] covered by [lo, hi]: lo, hi [B] -> [B, 65]."""
    a = torch.maximum(centres - 0.5, lo.unsqueeze(-1))
    b = torch.minimum(centres + 0.5, hi.unsqueeze(-1))
    return (b - a).clamp(0.0, 1.0)


def _solid(walls: WallSpec, device: torch.device | str | None = None) -> Tensor:
    """Coverage of each pixel by solid (borders and wall outside the door): float32 [B, 65, 65]."""
    c = torch.arange(IMAGE_SIZE, dtype=torch.float32, device=device)  # pixel centres [65]
    # Borders: the region outside [4, 60] on either axis, the same on rows and columns.
    inf = torch.tensor([math.inf], device=device)
    low = torch.tensor([BORDER_LOW], device=device)
    high = torch.tensor([BORDER_HIGH], device=device)
    border = _coverage(-inf, low, c) + _coverage(high, inf, c)  # [1, 65]
    border_2d = 1 - (1 - border.unsqueeze(-1)) * (1 - border.unsqueeze(-2))  # [1, 65, 65]
    left, right, door_lo, door_hi = walls.bounds(torch.float32, device)
    wall_cols = _coverage(left, right, c)  # [B, 65]
    door_rows = _coverage(door_lo, door_hi, c)  # [B, 65]
    wall_2d = (1 - door_rows).unsqueeze(-1) * wall_cols.unsqueeze(-2)  # [B, 65(rows), 65(cols)]
    return 1 - (1 - border_2d) * (1 - wall_2d)


def _render_into(out: Tensor, pos: Tensor, walls: WallSpec, mode: str) -> None:
    """Fill ``out`` uint8 [B, T, 65, 65, 3] (rgb) or [B, T, 2, 65, 65] (2ch) with the frames of
    positions [B, T, 2] in worlds with walls [B] (the walls are drawn once per world).

    Rounding is ``floor(v + 0.5)`` of the value in [0, 255]; buffers are reused to keep passes over
    memory few, since the generator renders hundreds of thousands of frames.
    """
    b, t = pos.shape[:2]
    pos = pos.to(torch.float32)
    c = torch.arange(IMAGE_SIZE, dtype=torch.float32, device=pos.device)  # pixel centres [65]
    # The blob is separable: exp(-(dx^2 + dy^2) / 2s^2) = gy * gx.
    gx = torch.exp(-((c - pos[..., :1]) ** 2) / (2 * DOT_SIGMA**2))  # [B, T, 65] over columns
    gy = torch.exp(-((c - pos[..., 1:]) ** 2) / (2 * DOT_SIGMA**2))  # [B, T, 65] over rows
    solid = _solid(walls, pos.device).unsqueeze(1)  # [B, 1, 65, 65]
    buf = torch.empty(b, t, IMAGE_SIZE, IMAGE_SIZE, device=pos.device)  # [B, T, 65, 65]
    if mode == "2ch":
        torch.mul((gy * 255).unsqueeze(-1), gx.unsqueeze(-2), out=buf)
        out[:, :, 0].copy_(buf.add_(0.5))  # the float -> uint8 copy truncates: floor(v + 0.5)
        out[:, :, 1].copy_((solid * 255).add_(0.5).expand(b, t, -1, -1))
        return
    torch.mul(gy.unsqueeze(-1), gx.unsqueeze(-2), out=buf)  # the dot's opacity d in [0, 1]
    base = solid * _WALL_RGB[0]  # grey walls: the same value on every channel
    tmp = torch.empty_like(buf)
    done: dict[float, int] = {}
    for k, colour in enumerate(_DOT_RGB):
        if colour in done:  # equal channels are computed once
            out[..., k].copy_(out[..., done[colour]])
            continue
        # base * (1 - d) + d * colour = base + d * (colour - base)
        torch.mul(buf, colour - base, out=tmp)
        out[..., k].copy_(tmp.add_(base).add_(0.5))
        done[colour] = k


def render_two_rooms(pos: Tensor, walls: WallSpec, mode: str = "rgb") -> Tensor:
    """Render B frames: ``"rgb"`` -> uint8 [B, 65, 65, 3], ``"2ch"`` -> uint8 [B, 2, 65, 65].

    Channel 0 of ``"2ch"`` is the dot's Gaussian blob (peak 255 at its centre), channel 1 the walls
    and borders. In RGB the background is black, walls light grey and the dot red, drawn on top.
    """
    _check_mode(mode)
    if pos.dim() != 2 or pos.shape[1] != 2:
        raise ValueError(f"render_two_rooms needs pos [B, 2], got {tuple(pos.shape)}")
    if walls.batch_size != pos.shape[0]:
        raise ValueError(f"walls are for {walls.batch_size} worlds, pos for {pos.shape[0]}")
    out = torch.empty(pos.shape[0], 1, *_frame_shape(mode), dtype=torch.uint8, device=pos.device)
    _render_into(out, pos.unsqueeze(1), walls, mode)
    return out[:, 0]


def _frame_shape(mode: str) -> tuple[int, int, int]:
    return (IMAGE_SIZE, IMAGE_SIZE, 3) if mode == "rgb" else (2, IMAGE_SIZE, IMAGE_SIZE)


def success(pos: Any, goal: Any) -> bool:
    """Whether a position [2] is within ``SUCCESS_DISTANCE`` (4.5 px) of a goal [2]."""
    diff = np.asarray(pos, dtype=np.float64) - np.asarray(goal, dtype=np.float64)
    return bool(np.hypot(diff[0], diff[1]) < SUCCESS_DISTANCE)


def _is_free(pos: np.ndarray, walls: np.ndarray, thickness: float, door_gap: float) -> np.ndarray:
    """Whether float32 positions [B, 2] lie in free space, for walls [B, 2]: bool [B].

    Uses ``WallSpec.bounds`` in float32 like ``two_rooms_step``, so a position the dynamics reach
    (for example exactly on a face) always counts as free.
    """
    p = torch.from_numpy(np.asarray(pos, dtype=np.float32).reshape(-1, 2))
    w = torch.from_numpy(np.asarray(walls, dtype=np.float32).reshape(-1, 2))
    left, right, door_lo, door_hi = WallSpec.from_tensor(w, thickness, door_gap).bounds()
    x, y = p[:, 0], p[:, 1]
    in_slab = (x > left) & (x < right)
    in_door = (y >= door_lo) & (y <= door_hi)
    inside = ((p >= BORDER_LOW) & (p <= BORDER_HIGH)).all(-1)
    return (inside & (~in_slab | in_door)).numpy()


def _sample_walls(rng: np.random.Generator, n: int, random_wall: bool) -> np.ndarray:
    """Walls float32 [n, 2] (wall x, door y): uniform in the ranges, or the fixed wall."""
    if not random_wall:
        return np.tile(np.array([FIXED_WALL_X, FIXED_DOOR_Y], dtype=np.float32), (n, 1))
    wx = rng.uniform(*WALL_X_RANGE, size=n)
    dy = rng.uniform(*DOOR_Y_RANGE, size=n)
    return np.stack([wx, dy], axis=-1).astype(np.float32)


def _sample_free(
    rng: np.random.Generator, walls: np.ndarray, thickness: float, door_gap: float
) -> np.ndarray:
    """One position per wall, uniform over the free space: float32 [n, 2] (rejection sampling)."""
    n = walls.shape[0]
    pos = np.zeros((n, 2), dtype=np.float32)
    todo = np.arange(n)
    while todo.size:
        cand = rng.uniform(BORDER_LOW, BORDER_HIGH, size=(todo.size, 2)).astype(np.float32)
        ok = _is_free(cand, walls[todo], thickness, door_gap)
        pos[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return pos


def _crossing_walks(
    rng: np.random.Generator,
    walls: np.ndarray,
    start: np.ndarray,
    fraction: float,
    thickness: float,
    door_gap: float,
    wall_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the walks steered across the wall (indices [c]), move their starts beside it (in place
    in ``start``) and return their aim points [c, 2], 12 px past the wall on the other side.

    A ``fraction`` of the walks start within the door's span and pass through it; a further
    ``wall_fraction`` start at any height, so most of them push against the solid wall and slide.
    """
    if fraction <= 0.0 and wall_fraction <= 0.0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.float32)
    u = rng.random(len(walls))

    def beside(picked: np.ndarray) -> np.ndarray:
        """Move the picked starts 1-8 px beside the wall, on a random side; their aims' x."""
        side = rng.choice([-1.0, 1.0], size=len(picked))  # -1: start left of the wall
        wx = walls[picked, 0]
        start[picked, 0] = wx + side * (thickness / 2 + rng.uniform(1.0, 8.0, size=len(picked)))
        return wx - side * (thickness / 2 + 12.0)

    picked = np.flatnonzero(u < fraction)
    aim_x, dy = beside(picked), walls[picked, 1]
    start[picked, 1] = dy + rng.uniform(-1.0, 1.0, size=len(picked)) * (door_gap / 2 - 1.5)
    aim = np.stack([aim_x, dy], axis=-1)
    if wall_fraction > 0.0:
        pushed = np.flatnonzero((u >= fraction) & (u < fraction + wall_fraction))
        aim_x = beside(pushed)
        start[pushed, 1] = rng.uniform(BORDER_LOW, BORDER_HIGH, size=len(pushed))
        aim_w = np.stack([aim_x, start[pushed, 1]], axis=-1)
        picked, aim = np.concatenate([picked, pushed]), np.concatenate([aim, aim_w])
    return picked, np.clip(aim, BORDER_LOW, BORDER_HIGH).astype(np.float32)


def _check_geometry(thickness: float, door_gap: float) -> None:
    lo, hi = _THICKNESS_RANGE
    if not lo <= thickness <= hi:
        raise DreamlabError(f"Two-Rooms wall thickness must be in [{lo}, {hi}] px, got {thickness}")
    if not 0 < door_gap <= _MAX_DOOR_GAP:
        raise DreamlabError(
            f"Two-Rooms door gap must be in (0, {_MAX_DOOR_GAP}] px, got {door_gap}"
        )


class TwoRoomsEnv(gymnasium.Env[np.ndarray, np.ndarray]):
    """Two rooms, one door: move the dot from a start in one room to a goal in the other.

    Observation: the rendered frame, uint8 [65, 65, 3] (``obs_mode="rgb"``) or [2, 65, 65]
    (``"2ch"``). Action: ``Box(-1, 1, (2,))``, scaled inside to norm <= 1; the dot moves 2 px per unit.
    ``reset`` samples the wall (``random_wall``: centre x in [20, 44], door centre y in [15, 49];
    otherwise x = 32, y = 32), a start and a goal uniformly in different rooms, at least 3 px from the
    wall's faces. Reward is ``-distance`` to the goal after the step; ``terminated`` when the distance
    is below 4.5 px; ``truncated`` after ``max_steps`` steps. ``info`` holds ``position`` [2],
    ``goal`` [2], ``goal_obs`` (the frame with the dot on the goal), ``distance``, ``success`` and
    ``wall`` (wall x, door y). ``get_state`` / ``set_state`` save and restore the exact state.

    Positions are float32, computed by ``two_rooms_step`` exactly like ``TwoRoomsModel``.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012

    def __init__(
        self,
        random_wall: bool = True,
        obs_mode: str = "rgb",
        max_steps: int = 200,
        render_mode: str | None = None,
        thickness: float = WALL_THICKNESS,
        door_gap: float = DOOR_GAP,
    ) -> None:
        _check_mode(obs_mode)
        _check_geometry(thickness, door_gap)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise DreamlabError(
                f"TwoRoomsEnv render_mode must be 'rgb_array' or None, got {render_mode!r}"
            )
        if max_steps < 1:
            raise DreamlabError(f"TwoRoomsEnv max_steps must be at least 1, got {max_steps}")
        self.random_wall = random_wall
        self.obs_mode = obs_mode
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.thickness = float(thickness)
        self.door_gap = float(door_gap)
        self.observation_space = spaces.Box(0, 255, _frame_shape(obs_mode), np.uint8)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._pos = np.array([16.0, 16.0], dtype=np.float32)
        self._wall = np.array([FIXED_WALL_X, FIXED_DOOR_Y], dtype=np.float32)
        self._goal = np.array([48.0, 48.0], dtype=np.float32)
        self._goal_obs = self._frame(self._goal, obs_mode)
        self._steps = 0

    # ---- state ----

    def _walls(self) -> WallSpec:
        return WallSpec.from_tensor(
            torch.from_numpy(self._wall[None]), self.thickness, self.door_gap
        )

    def _frame(self, pos: np.ndarray, mode: str) -> np.ndarray:
        frame = render_two_rooms(torch.from_numpy(pos[None]), self._walls(), mode)
        return frame[0].numpy()

    def get_state(self) -> np.ndarray:
        """The exact state, float32 [6]: position x, y, wall centre x, door centre y, goal x, y."""
        return np.concatenate([self._pos, self._wall, self._goal]).astype(np.float32)

    def set_state(self, state: Any) -> None:
        """Restore a state from ``get_state`` (float32 [6]); the step counter is left as it is."""
        arr = np.asarray(state, dtype=np.float32)
        if arr.shape != (6,) or not np.isfinite(arr).all():
            raise DreamlabError(
                f"TwoRoomsEnv state must be 6 finite numbers (x, y, wall x, door y, goal x, goal y), "
                f"got shape {arr.shape}"
            )
        pos, wall, goal = arr[0:2].copy(), arr[2:4].copy(), arr[4:6].copy()
        for name, p in (("position", pos), ("goal", goal)):
            if not _is_free(p, wall, self.thickness, self.door_gap)[0]:
                raise DreamlabError(f"TwoRoomsEnv {name} {p.tolist()} is inside a wall or border")
        self._pos, self._wall, self._goal = pos, wall, goal
        self._goal_obs = self._frame(self._goal, self.obs_mode)

    @property
    def position(self) -> np.ndarray:
        """The dot's centre (x, y), float32 [2]."""
        return self._pos.copy()

    @property
    def goal(self) -> np.ndarray:
        """The goal (x, y), float32 [2]."""
        return self._goal.copy()

    @property
    def wall(self) -> np.ndarray:
        """Wall centre x and door centre y, float32 [2]."""
        return self._wall.copy()

    def room_of(self, pos: Any) -> int:
        """0 for the left room (x left of the wall's centre), 1 for the right room."""
        return int(float(np.asarray(pos)[0]) > float(self._wall[0]))

    # ---- gymnasium API ----

    def _distance(self) -> float:
        d = self._pos.astype(np.float64) - self._goal.astype(np.float64)
        return float(np.hypot(d[0], d[1]))

    def _info(self) -> dict[str, Any]:
        distance = self._distance()
        return {
            "position": self._pos.copy(),
            "goal": self._goal.copy(),
            "goal_obs": self._goal_obs.copy(),
            "distance": distance,
            "success": distance < SUCCESS_DISTANCE,
            "wall": self._wall.copy(),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Sample the wall (if random), a start in one room and a goal in the other."""
        super().reset(seed=seed)
        rng = self.np_random
        wall = _sample_walls(rng, 1, self.random_wall)[0]
        left = wall[0] - self.thickness / 2 - GOAL_MARGIN
        right = wall[0] + self.thickness / 2 + GOAL_MARGIN
        rooms = ((BORDER_LOW, left), (right, BORDER_HIGH))
        start_room = int(rng.integers(2))
        points = []
        for room in (start_room, 1 - start_room):
            x = rng.uniform(*rooms[room])
            y = rng.uniform(BORDER_LOW, BORDER_HIGH)
            points.append(np.array([x, y], dtype=np.float32))
        self._wall, self._pos, self._goal = wall, points[0], points[1]
        self._goal_obs = self._frame(self._goal, self.obs_mode)
        self._steps = 0
        return self._frame(self._pos, self.obs_mode), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the dot; reward is ``-distance`` to the goal; terminated once within 4.5 px."""
        a = np.asarray(action, dtype=np.float32)
        if a.shape != (2,) or not np.isfinite(a).all():
            raise DreamlabError(f"TwoRoomsEnv action must be 2 finite numbers, got {action!r}")
        nxt = two_rooms_step(
            torch.from_numpy(self._pos[None]), torch.from_numpy(a[None]), self._walls()
        )
        self._pos = nxt[0].numpy().copy()
        self._steps += 1
        info = self._info()
        truncated = self._steps >= self.max_steps
        obs = self._frame(self._pos, self.obs_mode)
        return obs, -info["distance"], bool(info["success"]), truncated, info

    def render(self) -> Any:
        """``"rgb_array"``: the RGB frame uint8 [65, 65, 3] (also when observations are 2ch)."""
        if self.render_mode == "rgb_array":
            return self._frame(self._pos, "rgb")
        return None


def two_rooms(**kwargs: Any) -> TwoRoomsEnv:
    """Two-Rooms with a random wall per episode (the ``TwoRoomsEnv`` options are accepted)."""
    return TwoRoomsEnv(**kwargs)


def two_rooms_fixed(**kwargs: Any) -> TwoRoomsEnv:
    """Two-Rooms with the fixed wall (centre x = 32, door centre y = 32)."""
    kwargs.setdefault("random_wall", False)
    return TwoRoomsEnv(**kwargs)


def _unwrap(env: gymnasium.Env) -> TwoRoomsEnv:
    inner = env.unwrapped
    if not isinstance(inner, TwoRoomsEnv):
        raise DreamlabError(f"expected a Two-Rooms environment, got {type(inner).__name__}")
    return inner


@dataclass(frozen=True)
class TwoRoomsModel(WorldModel):
    """The true Two-Rooms dynamics as a batched WorldModel (simulator-based, nothing learned).

    ``State.z`` is the position [B, 2] float32 and ``State.extras["wall"]`` the walls [B, 2]
    (wall centre x, door centre y). ``step`` applies ``two_rooms_step``; reward is 0 and cont 1,
    because planners here use a goal objective (``goal_features``), not a reward.
    """

    thickness: float = WALL_THICKNESS
    door_gap: float = DOOR_GAP
    obs_mode: str = "rgb"

    def __post_init__(self) -> None:
        _check_mode(self.obs_mode)
        _check_geometry(self.thickness, self.door_gap)

    @staticmethod
    def from_env(env: gymnasium.Env) -> TwoRoomsModel:
        """A model with the env's wall thickness, door gap and observation mode."""
        inner = _unwrap(env)
        return TwoRoomsModel(inner.thickness, inner.door_gap, inner.obs_mode)

    @staticmethod
    def state_of(env: gymnasium.Env) -> State:
        """The env's exact state as a State with B = 1."""
        s = torch.from_numpy(_unwrap(env).get_state())
        return State(z=s[None, 0:2].clone(), extras={"wall": s[None, 2:4].clone()})

    @staticmethod
    def goal_features(env: gymnasium.Env) -> Tensor:
        """The planning goal: the env's goal position [1, 2] float32 (compare with ``State.z``)."""
        return torch.from_numpy(_unwrap(env).goal)[None].clone()

    def _walls(self, state: State) -> WallSpec:
        return WallSpec.from_tensor(state.extras["wall"], self.thickness, self.door_gap)

    def initial(self, obs: Tensor) -> State:
        """Not available: a frame does not reveal the exact position."""
        raise DreamlabError(
            "TwoRoomsModel cannot read the exact state from a frame; use TwoRoomsModel.state_of(env)"
        )

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """Move every world one step: z [B, 2] -> z' [B, 2]; reward 0 and cont 1, each [B]."""
        pos = two_rooms_step(state.z, action, self._walls(state))
        b = state.batch_size
        zeros = torch.zeros(b, dtype=pos.dtype, device=pos.device)
        return State(z=pos, extras=dict(state.extras)), StepOut(reward=zeros, cont=zeros + 1)

    def decode(self, state: State) -> Tensor:
        """The frames of the states: uint8 [B, 65, 65, 3] (rgb) or [B, 2, 65, 65] (2ch)."""
        return render_two_rooms(state.z, self._walls(state), self.obs_mode)


@dataclass(frozen=True, eq=False)
class TwoRoomsData:
    """Random-walk trajectories: ``obs`` uint8 [n, T, ...], ``actions`` float32 [n, T - 1, 2],
    ``positions`` float32 [n, T, 2] and ``walls`` float32 [n, 2] (wall x, door y).

    ``actions[:, t]`` leads from ``positions[:, t]`` to ``positions[:, t + 1]``.
    """

    obs: np.ndarray
    actions: np.ndarray
    positions: np.ndarray
    walls: np.ndarray


def _index_walls(walls: WallSpec, i: int, j: int) -> WallSpec:
    return WallSpec(walls.wall_x[i:j], walls.door_y[i:j], walls.thickness, walls.door_gap)


def generate_two_rooms(
    n: int,
    steps: int = 17,
    *,
    random_wall: bool = True,
    obs_mode: str = "2ch",
    seed: int = 0,
    kappa: float = 5.0,
    thickness: float = WALL_THICKNESS,
    door_gap: float = DOOR_GAP,
    cross_fraction: float = 0.0,
    wall_fraction: float = 0.0,
    max_speed: float = 1.0,
) -> TwoRoomsData:
    """Make ``n`` random-walk trajectories of ``steps`` frames, deterministically for a seed.

    Each trajectory samples its wall (if ``random_wall``) and a start uniformly over the free space.
    The heading starts uniform and turns by a von Mises(0, ``kappa``) angle each step; the step
    length is N(1, 0.4) clipped to [0.2, 1.8] px, so ``action = length / 2 * (cos h, sin h)``. Walls
    and borders cut steps as in ``two_rooms_step``. Frames are rendered in chunks to bound memory.

    A ``cross_fraction`` of the walks head for the other room instead: they start beside the door
    (1-8 px from the wall, within the door's span) and every step aims at a point 12 px past the
    door, turned by the same von Mises noise. Uniform walks almost never pass the door (~3% of
    17-frame walks change rooms), so a model would otherwise rarely see where the wall lets it
    through. A further ``wall_fraction`` start beside the wall at any height and aim across it the
    same way: most press against the solid wall and slide along it, near the borders too, which
    uniform walks seldom reach. With ``max_speed`` > 1 each walk's step lengths are multiplied by
    its own factor, uniform in [1, ``max_speed``], and capped at 2 px (an action of norm 1), so
    the data also holds the fast moves a planner makes. With both fractions 0 and ``max_speed`` 1
    the walks (and the random numbers behind them) are exactly the uniform ones.
    """
    if not 1.0 <= max_speed <= 4.0:
        raise DreamlabError(f"max_speed must be in [1, 4], got {max_speed}")
    if not (cross_fraction >= 0.0 and wall_fraction >= 0.0 and cross_fraction + wall_fraction <= 1):
        raise DreamlabError(
            "cross_fraction and wall_fraction must be >= 0 with a sum <= 1, got "
            f"{cross_fraction} and {wall_fraction}"
        )
    _check_mode(obs_mode)
    _check_geometry(thickness, door_gap)
    if n < 1 or steps < 2:
        raise DreamlabError(f"generate_two_rooms needs n >= 1 and steps >= 2, got {n} and {steps}")
    rng = np.random.default_rng(seed)
    walls = _sample_walls(rng, n, random_wall)  # [n, 2]
    start = _sample_free(rng, walls, thickness, door_gap)  # [n, 2]
    first = rng.uniform(-np.pi, np.pi, size=(n, 1))
    turns = rng.vonmises(0.0, kappa, size=(n, steps - 1))  # [n, steps - 1]
    heading = first + np.cumsum(turns, axis=1)
    length = np.clip(rng.normal(1.0, 0.4, size=(n, steps - 1)), 0.2, 1.8)
    crossing, aim = _crossing_walks(
        rng, walls, start, cross_fraction, thickness, door_gap, wall_fraction
    )
    if max_speed > 1.0:  # drawn last, so slower data keeps its random numbers
        factor = rng.uniform(1.0, max_speed, size=(n, 1))
        length = np.minimum(length * factor, STEP_SCALE)
    actions = (length / STEP_SCALE)[..., None] * np.stack([np.cos(heading), np.sin(heading)], -1)
    actions = actions.astype(np.float32)  # [n, steps - 1, 2]

    spec = WallSpec.from_tensor(torch.from_numpy(walls), thickness, door_gap)
    pos = torch.from_numpy(start)
    traj = [pos]
    act = torch.from_numpy(actions)
    for t in range(steps - 1):
        if crossing.size:
            # steer toward the aim point, with the walk's own noise on the heading
            to_aim = aim - pos[crossing].numpy()  # [c, 2]
            h = np.arctan2(to_aim[:, 1], to_aim[:, 0]) + turns[crossing, t]
            step = (length[crossing, t] / STEP_SCALE)[:, None] * np.stack(
                [np.cos(h), np.sin(h)], -1
            )
            act[crossing, t] = torch.from_numpy(step.astype(np.float32))
        pos = two_rooms_step(pos, act[:, t], spec)
        traj.append(pos)
    positions = torch.stack(traj, dim=1).numpy()  # [n, steps, 2]

    obs = np.empty((n, steps, *_frame_shape(obs_mode)), dtype=np.uint8)
    target = torch.from_numpy(obs)  # shares memory: frames are written in place
    chunk = max(1, 4096 // steps)  # trajectories per chunk: about 4k frames at a time
    with progress_bar(n, "two-rooms frames") as bar:
        for i in range(0, n, chunk):
            j = min(n, i + chunk)
            _render_into(
                target[i:j], torch.from_numpy(positions[i:j]), _index_walls(spec, i, j), obs_mode
            )
            bar.advance(j - i)
    return TwoRoomsData(obs=obs, actions=actions, positions=positions, walls=walls)
