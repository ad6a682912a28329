"""Procedural sprites: bouncing, colliding shapes and one controlled agent, for video world models.

A 64 x 64 RGB canvas on black holds ``K + 1`` object slots. Slot 0 is the agent (always alive, always
white); slots 1..K are circles or squares of radius 3-6 px in distinct palette colours that move
ballistically. Objects bounce off the borders and collide elastically with each other (equal masses,
collision shapes are circles). Optional stochastic events change the world: ``"spawn"`` (a new object
appears in a free slot at a free position) and ``"recolour"`` (a non-agent object takes another colour).

One batched numpy core (``reset_worlds``, ``step_worlds``, ``render_worlds``) simulates B worlds at
once; ``SpritesEnv`` runs it with B = 1 and ``generate_sprites`` runs it in chunks to make video data
sets in bulk, with the ground truth (positions, velocities, colours, alive flags, event flags) that
evaluation needs.

Coordinates: a position is ``(x, y)`` in pixels, x the column (rightwards) and y the row (downwards);
pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``, so the canvas is ``[0, 64]^2``. An
object of radius r stays inside ``[r, 64 - r]`` on both axes. Velocities are pixels per step.

Agent dynamics: an action ``a`` in ``[-1, 1]^2`` is an acceleration, ``v += agent_accel * a``; an
action cannot push the agent's speed above ``max(agent_max_speed, speed before the action)``, so a
collision may leave the agent faster than its cap (energy is never removed by the cap).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.train.progress import progress_bar

__all__ = [
    "CANVAS",
    "CIRCLE",
    "EVENT_NAMES",
    "PALETTE",
    "POLICIES",
    "SQUARE",
    "SpriteWorlds",
    "SpritesConfig",
    "SpritesData",
    "SpritesEnv",
    "generate_sprites",
    "render_worlds",
    "reset_worlds",
    "sprites",
    "step_worlds",
]

CANVAS = 64
"""Width and height of the canvas in pixels."""

CIRCLE, SQUARE = 0, 1
"""Shape codes of ``SpriteWorlds.shape``."""

EVENT_NAMES: tuple[str, ...] = ("spawn", "recolour")
"""Names of the event flags, in the order of the last axis of every event array."""

PALETTE = np.array(
    [
        (255, 255, 255),  # 0 white: the agent's colour, never used by other objects
        (230, 25, 25),  # 1 red
        (40, 200, 40),  # 2 green
        (30, 90, 255),  # 3 blue
        (255, 225, 25),  # 4 yellow
        (240, 50, 230),  # 5 magenta
        (70, 240, 240),  # 6 cyan
        (255, 130, 0),  # 7 orange
        (140, 60, 200),  # 8 purple
        (250, 170, 190),  # 9 pink
    ],
    dtype=np.uint8,
)
"""Fixed palette, uint8 [10, 3]; ``SpriteWorlds.colour`` indexes it."""

_AGENT_COLOUR = 0
_SPAWN, _RECOLOUR = 0, 1  # positions of the events in EVENT_NAMES
_FIELDS_PER_SLOT = 8  # x, y, vx, vy, radius, shape, colour, alive: one slot of a packed state
_CANDIDATES = 16  # random positions tried per world when placing a new object
_GAP = 1.0  # pixels kept free between a newly placed object and the others


@dataclass(frozen=True)
class SpritesConfig:
    """The rules of a sprites world (shared by every world of a batch)."""

    num_objects: int = 3
    """K, the number of non-agent object slots (1..9: each alive object gets its own colour)."""
    spawn_prob: float = 0.0
    """Probability per step of a "spawn" event (it happens only if a slot is free)."""
    recolour_prob: float = 0.0
    """Probability per step of a "recolour" event."""
    min_radius: int = 3
    """Smallest object radius in pixels (a square's half side)."""
    max_radius: int = 6
    """Largest object radius in pixels."""
    min_speed: float = 0.5
    """Smallest initial speed of a non-agent object, pixels per step."""
    max_speed: float = 2.0
    """Largest initial speed of a non-agent object, pixels per step."""
    agent_accel: float = 0.5
    """Velocity change of the agent for a unit action, pixels per step per step."""
    agent_max_speed: float = 3.0
    """Speed beyond which actions cannot accelerate the agent."""
    initial_objects: int | None = None
    """Non-agent objects alive at reset; None: all K without spawns, else uniform in 1..K per world."""

    def __post_init__(self) -> None:
        k_max = len(PALETTE) - 1
        if not 1 <= self.num_objects <= k_max:
            raise DreamlabError(
                f"sprites num_objects must be in 1..{k_max}, got {self.num_objects}"
            )
        for name in ("spawn_prob", "recolour_prob"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise DreamlabError(f"sprites {name} must be in [0, 1], got {p}")
        if not 1 <= self.min_radius <= self.max_radius <= CANVAS // 8:
            raise DreamlabError(
                f"sprites radii must satisfy 1 <= min_radius <= max_radius <= {CANVAS // 8}, "
                f"got {self.min_radius} and {self.max_radius}"
            )
        if not 0.0 <= self.min_speed <= self.max_speed or self.agent_max_speed < 0:
            raise DreamlabError(
                f"sprites speeds must satisfy 0 <= min_speed <= max_speed and agent_max_speed >= 0, "
                f"got {self.min_speed}, {self.max_speed}, {self.agent_max_speed}"
            )
        if self.initial_objects is not None and not 0 <= self.initial_objects <= self.num_objects:
            raise DreamlabError(
                f"sprites initial_objects must be in 0..{self.num_objects}, got {self.initial_objects}"
            )

    @property
    def slots(self) -> int:
        """M = K + 1, the number of object slots, agent included."""
        return self.num_objects + 1


@dataclass(frozen=True)
class SpriteWorlds:
    """The state of B sprites worlds with M = K + 1 object slots each (slot 0 is the agent).

    Arrays are owned by this value: the core functions return new worlds and never write into them.
    """

    pos: np.ndarray  # float64 [B, M, 2], (x, y) in pixels
    vel: np.ndarray  # float64 [B, M, 2], pixels per step
    radius: np.ndarray  # float64 [B, M]
    shape: np.ndarray  # int64 [B, M], CIRCLE or SQUARE
    colour: np.ndarray  # int64 [B, M], index into PALETTE
    alive: np.ndarray  # bool [B, M]

    @property
    def batch_size(self) -> int:
        """B, the number of worlds."""
        return int(self.pos.shape[0])

    @property
    def slots(self) -> int:
        """M, the number of object slots per world."""
        return int(self.pos.shape[1])

    def copy(self) -> SpriteWorlds:
        """A deep copy (every array copied)."""
        return SpriteWorlds(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def to_array(self) -> np.ndarray:
        """Pack into float64 [B, 8 * M]: per slot ``x, y, vx, vy, radius, shape, colour, alive``.

        Every value is stored exactly (float64 holds the small integers exactly).
        """
        packed = np.concatenate(
            [
                self.pos,
                self.vel,
                self.radius[..., None],
                self.shape[..., None].astype(np.float64),
                self.colour[..., None].astype(np.float64),
                self.alive[..., None].astype(np.float64),
            ],
            axis=-1,
        )  # [B, M, 8]
        return packed.reshape(self.batch_size, -1)  # [B, 8 * M]

    @staticmethod
    def from_array(packed: np.ndarray) -> SpriteWorlds:
        """Unpack ``to_array``'s float64 [B, 8 * M] back into worlds."""
        packed = np.asarray(packed, dtype=np.float64)
        if packed.ndim != 2 or packed.shape[1] % _FIELDS_PER_SLOT != 0:
            raise DreamlabError(
                f"packed sprites worlds must have shape [B, 8 * M], got {tuple(packed.shape)}"
            )
        s = packed.reshape(packed.shape[0], -1, _FIELDS_PER_SLOT)  # [B, M, 8]
        return SpriteWorlds(
            pos=s[..., 0:2].copy(),
            vel=s[..., 2:4].copy(),
            radius=s[..., 4].copy(),
            shape=s[..., 5].astype(np.int64),
            colour=s[..., 6].astype(np.int64),
            alive=s[..., 7] > 0.5,
        )


# ---- sampling helpers (vectorised over B) ----


def _random_velocity(
    cfg: SpritesConfig, rng: np.random.Generator, shape: tuple[int, ...]
) -> np.ndarray:
    """Velocities float64 [*shape, 2] with uniform direction and speed in [min_speed, max_speed]."""
    speed = rng.uniform(cfg.min_speed, cfg.max_speed, size=shape)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=shape)
    return np.stack([speed * np.cos(angle), speed * np.sin(angle)], axis=-1)


def _free_position(
    rng: np.random.Generator,
    radius: np.ndarray,
    pos: np.ndarray,
    radii: np.ndarray,
    occupied: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A random position for a new object of ``radius`` [B] clear of the ``occupied`` [B, M] objects.

    Tries ``_CANDIDATES`` uniform positions per world and keeps the first that keeps a gap to every
    occupied object. Returns positions float64 [B, 2] and whether one was found, bool [B] (if not, the
    first candidate is returned).
    """
    b = radius.shape[0]
    u = rng.random((b, _CANDIDATES, 2))
    lo = radius[:, None, None]  # [B, 1, 1]
    cand = lo + u * (CANVAS - 2.0 * lo)  # [B, C, 2] inside [r, 64 - r]
    dist = np.linalg.norm(cand[:, :, None, :] - pos[:, None, :, :], axis=-1)  # [B, C, M]
    clear = dist >= radius[:, None, None] + radii[:, None, :] + _GAP  # [B, C, M]
    ok = np.all(clear | ~occupied[:, None, :], axis=-1)  # [B, C]
    first = np.argmax(ok, axis=1)  # [B]: first clear candidate, 0 if none
    rows = np.arange(b)
    return cand[rows, first], ok[rows, first]


def _unused_colour(
    rng: np.random.Generator, colour: np.ndarray, used: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly random non-agent palette colour per world not in use by the ``used`` [B, M] slots.

    Returns colour indices int64 [B] and whether a free colour existed, bool [B].
    """
    b = colour.shape[0]
    # One-hot per slot, not a scatter: dead slots may share an alive slot's colour index.
    onehot = colour[..., None] == np.arange(len(PALETTE))  # [B, M, P]
    taken = np.any(onehot & used[..., None], axis=1)  # [B, P]
    taken[:, _AGENT_COLOUR] = True
    scores = np.where(taken, -1.0, rng.random((b, len(PALETTE))))  # [B, P]
    return np.argmax(scores, axis=1), ~np.all(taken, axis=1)


# ---- the core ----


def reset_worlds(cfg: SpritesConfig, batch: int, rng: np.random.Generator) -> SpriteWorlds:
    """B = ``batch`` new worlds: non-overlapping objects in distinct colours, the agent at rest.

    Non-agent objects get uniform radii, shapes, directions and speeds; which slots are alive follows
    ``cfg.initial_objects`` (the first slots are filled).
    """
    m = cfg.slots
    radius = rng.integers(cfg.min_radius, cfg.max_radius + 1, size=(batch, m)).astype(np.float64)
    shape = rng.integers(0, 2, size=(batch, m))
    vel = _random_velocity(cfg, rng, (batch, m))
    vel[:, 0] = 0.0
    # Distinct colours per world: a random permutation of the non-agent palette entries.
    order = np.argsort(rng.random((batch, len(PALETTE) - 1)), axis=1) + 1  # [B, P - 1]
    colour = np.concatenate(
        [np.full((batch, 1), _AGENT_COLOUR, dtype=np.int64), order[:, : cfg.num_objects]], axis=1
    )  # [B, M]
    if cfg.initial_objects is not None:
        count = np.full(batch, cfg.initial_objects)
    elif cfg.spawn_prob > 0:
        # Leave room for spawns: a world starts with 1..K objects.
        count = rng.integers(1, cfg.num_objects + 1, size=batch)
    else:
        count = np.full(batch, cfg.num_objects)
    alive = np.arange(m)[None, :] <= count[:, None]  # [B, M], slot 0 (agent) always alive
    vel[~alive] = 0.0

    pos = np.zeros((batch, m, 2))
    placed = np.zeros((batch, m), dtype=bool)
    for i in range(m):
        # Objects that find no clear spot keep an overlapping one; the first collision separates them.
        pos[:, i], _ = _free_position(rng, radius[:, i], pos, radius, placed)
        placed[:, i] = alive[:, i]
    return SpriteWorlds(pos=pos, vel=vel, radius=radius, shape=shape, colour=colour, alive=alive)


def _collide(w: SpriteWorlds) -> None:
    """Elastic equal-mass collisions between every pair of alive objects, in place on ``w``'s arrays.

    For touching pairs that approach each other, the velocity components along the line of centres
    are exchanged (this conserves momentum and kinetic energy); overlaps are split half and half.
    """
    pos, vel = w.pos, w.vel
    for i in range(w.slots):
        for j in range(i + 1, w.slots):
            d = pos[:, j] - pos[:, i]  # [B, 2]
            dist = np.linalg.norm(d, axis=-1)  # [B]
            reach = w.radius[:, i] + w.radius[:, j]
            hit = w.alive[:, i] & w.alive[:, j] & (dist < reach)  # [B]
            if not hit.any():
                continue
            # Coincident centres have no line of centres: push them apart along x.
            safe = np.where(dist > 1e-9, dist, 1.0)
            n = np.where((dist > 1e-9)[:, None], d / safe[:, None], np.array([1.0, 0.0]))  # [B, 2]
            approach = np.sum((vel[:, i] - vel[:, j]) * n, axis=-1)  # [B], > 0: closing in
            u = np.where(hit & (approach > 0), approach, 0.0)[:, None] * n  # [B, 2]
            vel[:, i] -= u
            vel[:, j] += u
            push = np.where(hit, (reach - dist) / 2.0, 0.0)[:, None] * n  # [B, 2]
            pos[:, i] -= push
            pos[:, j] += push


def _bounce(w: SpriteWorlds) -> None:
    """Reflect objects that left ``[r, 64 - r]`` back inside and point their velocity inwards."""
    lo = w.radius[..., None]  # [B, M, 1]
    hi = CANVAS - lo
    below, above = w.pos < lo, w.pos > hi  # [B, M, 2]
    w.pos[:] = np.where(below, 2.0 * lo - w.pos, np.where(above, 2.0 * hi - w.pos, w.pos))
    w.vel[:] = np.where(below, np.abs(w.vel), np.where(above, -np.abs(w.vel), w.vel))
    # A reflection can overshoot only after a large push apart; clamping keeps the invariant.
    np.clip(w.pos, lo, hi, out=w.pos)


def _events(cfg: SpritesConfig, w: SpriteWorlds, rng: np.random.Generator) -> np.ndarray:
    """Draw this step's events in place on ``w``; returns flags bool [B, 2] (``EVENT_NAMES`` order).

    The same amount of randomness is drawn every step whatever happens, so a world's future events
    depend only on its state and the generator's state.
    """
    b, m = w.batch_size, w.slots
    flags = np.zeros((b, len(EVENT_NAMES)), dtype=bool)
    rows = np.arange(b)
    if cfg.recolour_prob > 0:
        fire = rng.random(b) < cfg.recolour_prob
        scores = np.where(w.alive, rng.random((b, m)), -1.0)
        scores[:, 0] = -1.0  # never the agent
        target = np.argmax(scores, axis=1)  # [B]: a uniformly random alive non-agent object
        new, available = _unused_colour(rng, w.colour, w.alive)
        fire &= (scores[rows, target] >= 0) & available
        w.colour[rows[fire], target[fire]] = new[fire]
        flags[:, _RECOLOUR] = fire
    if cfg.spawn_prob > 0:
        fire = rng.random(b) < cfg.spawn_prob
        free = ~w.alive
        free[:, 0] = False
        slot = np.argmax(free, axis=1)  # [B]: first free non-agent slot
        radius = rng.integers(cfg.min_radius, cfg.max_radius + 1, size=b).astype(np.float64)
        shape = rng.integers(0, 2, size=b)
        vel = _random_velocity(cfg, rng, (b,))
        colour, available = _unused_colour(rng, w.colour, w.alive)
        pos, clear = _free_position(rng, radius, w.pos, w.radius, w.alive)
        fire &= free.any(axis=1) & available & clear
        r, s = rows[fire], slot[fire]
        w.pos[r, s] = pos[fire]
        w.vel[r, s] = vel[fire]
        w.radius[r, s] = radius[fire]
        w.shape[r, s] = shape[fire]
        w.colour[r, s] = colour[fire]
        w.alive[r, s] = True
        flags[:, _SPAWN] = fire
    return flags


def step_worlds(
    cfg: SpritesConfig, worlds: SpriteWorlds, actions: np.ndarray, rng: np.random.Generator
) -> tuple[SpriteWorlds, np.ndarray]:
    """Advance B worlds by one step under the agent's ``actions`` [B, 2] (clipped to [-1, 1]).

    Order: the agent accelerates, alive objects move, pairs collide, objects bounce off the borders,
    then events are drawn (a spawned object appears where it does not overlap anything). Returns the
    new worlds and the event flags bool [B, 2] (``EVENT_NAMES`` order). ``worlds`` is not modified.
    """
    actions = np.asarray(actions, dtype=np.float64)
    if actions.shape != (worlds.batch_size, 2):
        raise DreamlabError(
            f"sprites actions must have shape ({worlds.batch_size}, 2), got {tuple(actions.shape)}"
        )
    w = worlds.copy()
    v0 = w.vel[:, 0]
    before = np.linalg.norm(v0, axis=-1)  # [B]
    v0 += cfg.agent_accel * np.clip(actions, -1.0, 1.0)
    after = np.linalg.norm(v0, axis=-1)
    cap = np.maximum(cfg.agent_max_speed, before)
    v0 *= np.where(after > cap, cap / np.maximum(after, 1e-12), 1.0)[:, None]
    w.pos[:] += w.vel * w.alive[..., None]
    _collide(w)
    _bounce(w)
    flags = _events(cfg, w, rng)
    return w, flags


def render_worlds(cfg: SpritesConfig, worlds: SpriteWorlds) -> np.ndarray:
    """Draw B worlds: uint8 [B, 64, 64, 3], black background, non-agent slots in order, agent on top.

    A pixel belongs to an object when its centre is within the radius (circles) or within the half
    side on both axes (squares). Each object is drawn in a (2R + 2)^2 window around it, R the largest
    radius, with masks from coordinate grids.
    """
    b = worlds.batch_size
    big = int(np.ceil(cfg.max_radius))
    win = 2 * big + 2
    offsets = np.arange(win)  # [W]
    canvas = np.zeros((b * CANVAS * CANVAS, 3), dtype=np.uint8)  # flat [B * Hh * W, 3]
    base = (np.arange(b) * CANVAS * CANVAS)[:, None, None]  # [B, 1, 1]
    for i in [*range(1, worlds.slots), 0]:
        x, y = worlds.pos[:, i, 0], worlds.pos[:, i, 1]
        r = worlds.radius[:, i]
        cols = np.floor(x).astype(np.int64)[:, None] - big + offsets  # [B, W]
        rows = np.floor(y).astype(np.int64)[:, None] - big + offsets  # [B, W]
        dx = cols + 0.5 - x[:, None]  # [B, W], pixel centre minus object centre
        dy = rows + 0.5 - y[:, None]
        circle = dx[:, None, :] ** 2 + dy[:, :, None] ** 2 <= (r**2)[:, None, None]  # [B, W, W]
        r2 = r[:, None]
        square = (np.abs(dx) <= r2)[:, None, :] & (np.abs(dy) <= r2)[:, :, None]  # [B, W, W]
        inside = (cols >= 0) & (cols < CANVAS)
        inside_rows = (rows >= 0) & (rows < CANVAS)
        mask = np.where((worlds.shape[:, i] == CIRCLE)[:, None, None], circle, square)
        mask &= inside[:, None, :] & inside_rows[:, :, None] & worlds.alive[:, i, None, None]
        flat = (
            base
            + np.clip(rows, 0, CANVAS - 1)[:, :, None] * CANVAS
            + np.clip(cols, 0, CANVAS - 1)[:, None, :]
        )
        rgb = np.broadcast_to(PALETTE[worlds.colour[:, i]][:, None, None, :], (b, win, win, 3))
        canvas[flat[mask]] = rgb[mask]
    return canvas.reshape(b, CANVAS, CANVAS, 3)


# ---- the gymnasium env ----


def _rng_to_words(rng: np.random.Generator) -> np.ndarray:
    """A PCG64 generator's full state as 10 float64 values (exact: 32-bit words)."""
    st = rng.bit_generator.state
    if st.get("bit_generator") != "PCG64":
        raise DreamlabError(
            f"SpritesEnv state saving needs a PCG64 np_random, got {st.get('bit_generator')}"
        )
    words = []
    for big in (st["state"]["state"], st["state"]["inc"]):
        words += [(int(big) >> (32 * k)) & 0xFFFFFFFF for k in range(4)]
    words += [int(st["has_uint32"]), int(st["uinteger"])]
    return np.array(words, dtype=np.float64)


def _words_to_rng_state(words: np.ndarray) -> dict[str, Any]:
    """Inverse of ``_rng_to_words``: a PCG64 state dict."""
    w = [int(v) for v in words]

    def join(part: list[int]) -> int:
        return sum(v << (32 * k) for k, v in enumerate(part))

    return {
        "bit_generator": "PCG64",
        "state": {"state": join(w[0:4]), "inc": join(w[4:8])},
        "has_uint32": w[8],
        "uinteger": w[9],
    }


_RNG_WORDS = 10


class SpritesEnv(gymnasium.Env[np.ndarray, np.ndarray]):
    """Sprites as a gymnasium env: one world, observed as its 64 x 64 frame.

    Observation: uint8 [64, 64, 3]. Action: Box [-1, 1]^2, the agent's acceleration ``(ax, ay)``
    (x rightwards, y downwards). Reward is always 0: this is a video environment for world models,
    with no task. Never terminated; truncated after ``max_steps`` steps.

    ``info`` (on reset and step) holds the ground truth: ``positions`` float64 [K+1, 2] ``(x, y)``,
    ``velocities`` [K+1, 2], ``radii`` [K+1], ``shapes`` [K+1] (0 circle, 1 square), ``colours``
    [K+1] (palette index), ``alive`` bool [K+1] and ``events`` ``{"spawn": bool, "recolour": bool}``
    for this step. Events are drawn from ``np_random`` (seeded by ``reset``). ``get_state`` and
    ``set_state`` save and restore everything that decides the future, the RNG included.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 15}  # noqa: RUF012

    def __init__(
        self,
        num_objects: int = 3,
        events: bool = False,
        spawn_prob: float = 0.05,
        recolour_prob: float = 0.05,
        max_steps: int = 100,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise DreamlabError(
                f"SpritesEnv render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        if max_steps < 1:
            raise DreamlabError(f"SpritesEnv max_steps must be at least 1, got {max_steps}")
        self.config = SpritesConfig(
            num_objects=num_objects,
            spawn_prob=spawn_prob if events else 0.0,
            recolour_prob=recolour_prob if events else 0.0,
        )
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0, 255, (CANVAS, CANVAS, 3), np.uint8)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.steps = 0
        self._worlds: SpriteWorlds | None = None
        self._frame: np.ndarray | None = None
        self._flags = np.zeros(len(EVENT_NAMES), dtype=bool)

    @property
    def worlds(self) -> SpriteWorlds:
        """The current world as a batch of one (a copy); raises before the first ``reset``."""
        return self._need_worlds().copy()

    @property
    def state_size(self) -> int:
        """Length of the ``get_state`` vector: 1 + 8 * (K + 1) + 10."""
        return 1 + _FIELDS_PER_SLOT * self.config.slots + _RNG_WORDS

    def _need_worlds(self) -> SpriteWorlds:
        if self._worlds is None:
            raise DreamlabError("SpritesEnv must be reset before it is stepped or queried")
        return self._worlds

    def _info(self) -> dict[str, Any]:
        w = self._need_worlds()
        return {
            "positions": w.pos[0].copy(),
            "velocities": w.vel[0].copy(),
            "radii": w.radius[0].copy(),
            "shapes": w.shape[0].copy(),
            "colours": w.colour[0].copy(),
            "alive": w.alive[0].copy(),
            "events": {name: bool(f) for name, f in zip(EVENT_NAMES, self._flags, strict=True)},
        }

    def _observe(self) -> np.ndarray:
        self._frame = render_worlds(self.config, self._need_worlds())[0]
        return self._frame.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new world drawn from ``np_random``; returns its frame and the ground truth."""
        super().reset(seed=seed)
        self._worlds = reset_worlds(self.config, 1, self.np_random)
        self._flags = np.zeros(len(EVENT_NAMES), dtype=bool)
        self.steps = 0
        return self._observe(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Accelerate the agent by ``action``, advance the world one step; reward 0."""
        a = np.asarray(action, dtype=np.float64)
        if a.size != 2 or not np.all(np.isfinite(a)):
            raise DreamlabError(f"SpritesEnv action must be 2 finite numbers, got {action!r}")
        self._worlds, flags = step_worlds(
            self.config, self._need_worlds(), a.reshape(1, 2), self.np_random
        )
        self._flags = flags[0]
        self.steps += 1
        return self._observe(), 0.0, False, self.steps >= self.max_steps, self._info()

    def render(self) -> np.ndarray | None:
        """``"rgb_array"``: the current frame, uint8 [64, 64, 3]."""
        if self.render_mode == "rgb_array":
            return self._frame.copy() if self._frame is not None else self._observe()
        return None

    def get_state(self) -> np.ndarray:
        """Everything that decides the future, float64 [state_size]: step, objects, RNG state.

        Layout: ``[steps, slot 0 (x, y, vx, vy, radius, shape, colour, alive), ..., 10 RNG words]``.
        """
        return np.concatenate(
            [
                np.array([float(self.steps)]),
                self._need_worlds().to_array()[0],
                _rng_to_words(self.np_random),
            ]
        )

    def set_state(self, state: np.ndarray) -> None:
        """Restore a ``get_state`` vector exactly; the next steps (events included) repeat."""
        s = np.asarray(state, dtype=np.float64)
        if s.shape != (self.state_size,):
            raise DreamlabError(
                f"SpritesEnv state must have shape ({self.state_size},), got {tuple(s.shape)}"
            )
        self.steps = int(s[0])
        self._worlds = SpriteWorlds.from_array(s[None, 1:-_RNG_WORDS])
        self.np_random.bit_generator.state = _words_to_rng_state(s[-_RNG_WORDS:])
        self._flags = np.zeros(len(EVENT_NAMES), dtype=bool)
        self._observe()


def sprites(**kwargs: Any) -> SpritesEnv:
    """Factory for ``make_env("sprites", ...)``: keyword arguments go to ``SpritesEnv``."""
    return SpritesEnv(**kwargs)


# ---- bulk data generation ----


@dataclass(frozen=True)
class SpritesData:
    """n sprites videos of T = ``steps`` frames with their actions and ground truth.

    ``actions[:, t]`` is the action taken at frame t that leads to frame t + 1. Per-frame ground truth
    at index t describes frame t; ``events[:, t]`` flags what happened on arriving at frame t
    (index 0 is always False), in ``EVENT_NAMES`` order.
    """

    frames: np.ndarray  # uint8 [n, T, 64, 64, 3]
    actions: np.ndarray  # float32 [n, T - 1, 2]
    positions: np.ndarray  # float32 [n, T, K + 1, 2], (x, y) in pixels
    velocities: np.ndarray  # float32 [n, T, K + 1, 2]
    radii: np.ndarray  # uint8 [n, T, K + 1]
    shapes: np.ndarray  # uint8 [n, T, K + 1], 0 circle, 1 square
    colours: np.ndarray  # uint8 [n, T, K + 1], palette index
    alive: np.ndarray  # bool [n, T, K + 1]
    events: np.ndarray  # bool [n, T, 2]

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def subset(self, index: np.ndarray | slice) -> SpritesData:
        """The videos selected by ``index`` along the first axis."""
        return replace(self, **{f.name: getattr(self, f.name)[index] for f in fields(self)})


POLICIES: tuple[str, ...] = ("random", "uniform", "none")
"""Action policies of ``generate_sprites``: Ornstein-Uhlenbeck, i.i.d. uniform, all zeros."""

_OU_THETA = 0.15  # pull of the Ornstein-Uhlenbeck actions back to 0 per step
_OU_SIGMA = 0.35  # noise of the Ornstein-Uhlenbeck actions per step


def _policy_actions(policy: str, rng: np.random.Generator, b: int, steps: int) -> np.ndarray:
    """Actions float64 [b, steps, 2] in [-1, 1] for one chunk."""
    if policy == "uniform":
        return rng.uniform(-1.0, 1.0, size=(b, steps, 2))
    if policy == "none":
        return np.zeros((b, steps, 2))
    # Ornstein-Uhlenbeck: correlated in time, so the agent heads somewhere instead of jittering.
    noise = rng.normal(0.0, _OU_SIGMA, size=(b, steps, 2))
    a = np.empty((b, steps, 2))
    prev = rng.uniform(-1.0, 1.0, size=(b, 2))
    for t in range(steps):
        prev = np.clip(prev - _OU_THETA * prev + noise[:, t], -1.0, 1.0)
        a[:, t] = prev
    return a


def generate_sprites(
    n: int,
    steps: int = 17,
    *,
    num_objects: int = 3,
    events: bool = True,
    seed: int = 0,
    policy: str = "random",
    spawn_prob: float = 0.05,
    recolour_prob: float = 0.05,
    chunk: int = 1000,
    progress: bool | None = None,
) -> SpritesData:
    """Generate n sprites videos of ``steps`` frames in chunks of ``chunk`` worlds.

    ``policy``: ``"random"`` (smooth Ornstein-Uhlenbeck actions), ``"uniform"`` (i.i.d.) or
    ``"none"``. The same ``seed`` (and ``chunk``) gives the same data; chunk c draws from
    ``SeedSequence(seed).spawn(...)[c]``.
    """
    if n < 0:
        raise DreamlabError(f"generate_sprites needs n >= 0, got {n}")
    if steps < 1:
        raise DreamlabError(f"generate_sprites needs steps >= 1, got {steps}")
    if chunk < 1:
        raise DreamlabError(f"generate_sprites needs chunk >= 1, got {chunk}")
    if policy not in POLICIES:
        raise unknown_choice("sprites policy", policy, POLICIES)
    cfg = SpritesConfig(
        num_objects=num_objects,
        spawn_prob=spawn_prob if events else 0.0,
        recolour_prob=recolour_prob if events else 0.0,
    )
    m = cfg.slots
    frames = np.empty((n, steps, CANVAS, CANVAS, 3), dtype=np.uint8)
    actions = np.empty((n, max(steps - 1, 0), 2), dtype=np.float32)
    positions = np.empty((n, steps, m, 2), dtype=np.float32)
    velocities = np.empty((n, steps, m, 2), dtype=np.float32)
    radii = np.empty((n, steps, m), dtype=np.uint8)
    shapes = np.empty((n, steps, m), dtype=np.uint8)
    colours = np.empty((n, steps, m), dtype=np.uint8)
    alive = np.empty((n, steps, m), dtype=bool)
    flags = np.zeros((n, steps, len(EVENT_NAMES)), dtype=bool)

    starts = range(0, n, chunk)
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    with progress_bar(n, "sprites", progress) as bar:
        for start, seq in zip(starts, seeds, strict=True):
            rng = np.random.default_rng(seq)
            sl = slice(start, min(start + chunk, n))
            b = sl.stop - sl.start
            acts = _policy_actions(policy, rng, b, steps - 1)
            actions[sl] = acts
            w = reset_worlds(cfg, b, rng)
            for t in range(steps):
                if t > 0:
                    w, flags[sl, t] = step_worlds(cfg, w, acts[:, t - 1], rng)
                frames[sl, t] = render_worlds(cfg, w)
                positions[sl, t] = w.pos
                velocities[sl, t] = w.vel
                radii[sl, t] = w.radius
                shapes[sl, t] = w.shape
                colours[sl, t] = w.colour
                alive[sl, t] = w.alive
            bar.advance(b)
    return SpritesData(
        frames=frames,
        actions=actions,
        positions=positions,
        velocities=velocities,
        radii=radii,
        shapes=shapes,
        colours=colours,
        alive=alive,
        events=flags,
    )
