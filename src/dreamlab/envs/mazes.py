"""The grid mazes of Sutton & Barto, *Reinforcement Learning: An Introduction* (2nd ed., 2018), ch. 8.

Three layouts, cell for cell as in the book (row 0 at the top, positions are ``(row, col)``):

- ``DYNA_MAZE`` (Example 8.1, Figure 8.2): 6 x 9, 47 free cells, shortest path 14.
- Blocking maze (Example 8.2, Figure 8.4): the wall on row 3 leaves a gap on the right (path 10);
  after 1000 time steps the gap moves to the left (path 16), so a learned model goes stale.
- Shortcut maze (Example 8.3, Figure 8.5): the gap is on the left (path 16); after 3000 time steps a
  shortcut opens on the right (path 10), which only an exploring agent (Dyna-Q+) discovers.

Actions: 0 up (row - 1), 1 down (row + 1), 2 right (col + 1), 3 left (col - 1). A move into a wall or off
the grid leaves the agent in place. Reward is +1 on arriving at the goal, which ends the episode; 0
otherwise. The world changes on the book's global clock, ``total_steps``, counted across episodes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from dreamlab.errors import DreamlabError

__all__ = [
    "ACTION_NAMES",
    "BLOCKING_CHANGE_AT",
    "BLOCKING_MAZE",
    "BLOCKING_MAZE_CHANGED",
    "DYNA_MAZE",
    "SHORTCUT_CHANGE_AT",
    "SHORTCUT_MAZE",
    "SHORTCUT_MAZE_CHANGED",
    "GridMaze",
    "MazeLayout",
    "blocking_maze",
    "dyna_maze",
    "shortcut_maze",
    "transition_table",
]

Pos = tuple[int, int]

ACTION_NAMES: tuple[str, ...] = ("up", "down", "right", "left")
# (d_row, d_col) per action, in the order of ACTION_NAMES.
_DELTAS: tuple[Pos, ...] = ((-1, 0), (1, 0), (0, 1), (0, -1))

# Image colours (RGB) of render_mode="rgb_array".
_WALL = (64, 64, 64)
_FREE = (255, 255, 255)
_GOAL = (0, 170, 0)
_AGENT = (30, 80, 230)
CELL_PIXELS = 8


@dataclass(frozen=True)
class MazeLayout:
    """A rectangular grid maze: its size, start, goal and wall cells, all as ``(row, col)``."""

    rows: int
    cols: int
    start: Pos
    goal: Pos
    walls: frozenset[Pos]

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise DreamlabError(f"maze size must be positive, got {self.rows} x {self.cols}")
        for name, pos in (("start", self.start), ("goal", self.goal)):
            if not self.in_bounds(pos):
                raise DreamlabError(
                    f"maze {name} {pos} is outside the {self.rows} x {self.cols} grid"
                )
            if pos in self.walls:
                raise DreamlabError(f"maze {name} {pos} is a wall cell")
        outside = sorted(w for w in self.walls if not self.in_bounds(w))
        if outside:
            raise DreamlabError(
                f"maze walls {outside} are outside the {self.rows} x {self.cols} grid"
            )

    @property
    def num_states(self) -> int:
        """Number of cells, walls included (the size of the observation space)."""
        return self.rows * self.cols

    def in_bounds(self, pos: Pos) -> bool:
        """Whether ``pos`` lies on the grid."""
        return 0 <= pos[0] < self.rows and 0 <= pos[1] < self.cols

    def free_states(self) -> list[Pos]:
        """All non-wall cells in row-major order (start and goal included)."""
        return [
            (r, c) for r in range(self.rows) for c in range(self.cols) if (r, c) not in self.walls
        ]

    def index(self, pos: Pos) -> int:
        """The integer state of a cell: ``row * cols + col``."""
        return pos[0] * self.cols + pos[1]

    def position(self, index: int) -> Pos:
        """The cell of an integer state (inverse of ``index``)."""
        r, c = divmod(int(index), self.cols)
        return (r, c)

    def move(self, pos: Pos, action: int) -> Pos:
        """The cell reached by taking ``action`` in ``pos``; into a wall or off the grid stays put."""
        dr, dc = _DELTAS[int(action)]
        nxt = (pos[0] + dr, pos[1] + dc)
        if not self.in_bounds(nxt) or nxt in self.walls:
            return pos
        return nxt

    def shortest_path_length(self) -> int:
        """Fewest steps from start to goal (breadth-first search); raises if the goal is cut off."""
        dist = {self.start: 0}
        queue = deque([self.start])
        while queue:
            pos = queue.popleft()
            if pos == self.goal:
                return dist[pos]
            for action in range(len(_DELTAS)):
                nxt = self.move(pos, action)
                if nxt not in dist:
                    dist[nxt] = dist[pos] + 1
                    queue.append(nxt)
        raise DreamlabError(f"maze goal {self.goal} cannot be reached from start {self.start}")

    def render_ascii(self, agent: Pos | None = None) -> str:
        """The maze as text: ``#`` wall, ``.`` free, ``S`` start, ``G`` goal, ``A`` agent."""
        lines = []
        for r in range(self.rows):
            row = []
            for c in range(self.cols):
                pos = (r, c)
                if pos == agent:
                    row.append("A")
                elif pos in self.walls:
                    row.append("#")
                elif pos == self.goal:
                    row.append("G")
                elif pos == self.start:
                    row.append("S")
                else:
                    row.append(".")
            lines.append("".join(row))
        return "\n".join(lines)

    def render_rgb(self, agent: Pos | None = None, cell: int = CELL_PIXELS) -> np.ndarray:
        """The maze as an image, uint8 [rows * cell, cols * cell, 3]: walls grey, goal green, agent blue."""
        grid = np.empty((self.rows, self.cols, 3), dtype=np.uint8)  # [rows, cols, 3]
        grid[:] = _FREE
        for wall in self.walls:
            grid[wall] = _WALL
        grid[self.goal] = _GOAL
        if agent is not None:
            grid[agent] = _AGENT
        # Each cell becomes a cell x cell block of pixels.
        return np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)  # [rows*cell, cols*cell, 3]


def _row_wall(row: int, cols: range) -> frozenset[Pos]:
    return frozenset((row, c) for c in cols)


DYNA_MAZE = MazeLayout(
    rows=6,
    cols=9,
    start=(2, 0),
    goal=(0, 8),
    walls=frozenset({(1, 2), (2, 2), (3, 2), (0, 7), (1, 7), (2, 7), (4, 5)}),
)
"""Example 8.1, Figure 8.2: 47 free cells, shortest path 14."""

BLOCKING_MAZE = MazeLayout(6, 9, start=(5, 3), goal=(0, 8), walls=_row_wall(3, range(0, 8)))
"""Example 8.2, Figure 8.4, before the change: gap on the right, shortest path 10."""

BLOCKING_MAZE_CHANGED = MazeLayout(6, 9, start=(5, 3), goal=(0, 8), walls=_row_wall(3, range(1, 9)))
"""Example 8.2, after the change: gap on the left, shortest path 16."""

BLOCKING_CHANGE_AT = 1000
"""Time step after which the blocking maze changes (Example 8.2)."""

SHORTCUT_MAZE = MazeLayout(6, 9, start=(5, 3), goal=(0, 8), walls=_row_wall(3, range(1, 9)))
"""Example 8.3, Figure 8.5, before the change: gap on the left, shortest path 16."""

SHORTCUT_MAZE_CHANGED = MazeLayout(6, 9, start=(5, 3), goal=(0, 8), walls=_row_wall(3, range(1, 8)))
"""Example 8.3, after the change: a shortcut opens on the right, shortest path 10."""

SHORTCUT_CHANGE_AT = 3000
"""Time step after which the shortcut maze changes (Example 8.3)."""


def transition_table(layout: MazeLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The true model of a layout over all ``S = rows * cols`` states and the 4 actions.

    Returns ``next_state`` int64 [S, A], ``reward`` float32 [S, A] and ``terminal`` bool [S, A],
    exactly what ``GridMaze.step`` does from each cell. Wall cells are unreachable from free cells;
    from a wall cell the table moves like the env does (an agent caught on a cell that turned into a
    wall walks out), so the table and the env agree on every (s, a).
    """
    num_actions = len(_DELTAS)
    next_state = np.empty((layout.num_states, num_actions), dtype=np.int64)
    for s in range(layout.num_states):
        pos = layout.position(s)
        for a in range(num_actions):
            next_state[s, a] = layout.index(layout.move(pos, a))
    terminal = next_state == layout.index(layout.goal)
    reward = terminal.astype(np.float32)
    return next_state, reward, terminal


class GridMaze(gymnasium.Env[int, int]):
    """A Sutton & Barto grid maze as a gymnasium env, optionally changing its layout at a time step.

    Observation: ``Discrete(rows * cols)``, the index ``row * cols + col`` of the agent's cell.
    Action: ``Discrete(4)`` (up, down, right, left). Reward +1 and ``terminated`` on arriving at the
    goal, else 0; never truncated (wrap in ``gymnasium.wrappers.TimeLimit`` for a step limit).

    ``total_steps`` counts steps over the env's whole life, across resets (the book's time steps);
    the step that makes ``total_steps == change_at`` is the last one in the old layout. ``reset``
    keeps ``total_steps``. ``info`` holds ``position``, the agent's ``(row, col)``. ``reset(options={"position": (r, c)})`` starts from another cell, which
    tests and simulator-backed planning use to query the env from any state.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 8}  # noqa: RUF012

    def __init__(
        self,
        layout: MazeLayout,
        changed_layout: MazeLayout | None = None,
        change_at: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise DreamlabError(
                f"GridMaze render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        if (changed_layout is None) != (change_at is None):
            raise DreamlabError("GridMaze needs both changed_layout and change_at, or neither")
        if changed_layout is not None and (
            changed_layout.rows,
            changed_layout.cols,
        ) != (layout.rows, layout.cols):
            raise DreamlabError(
                f"GridMaze changed_layout is {changed_layout.rows} x {changed_layout.cols}, "
                f"the layout is {layout.rows} x {layout.cols}; they must match"
            )
        self.initial_layout = layout
        self.changed_layout = changed_layout
        self.change_at = change_at
        self.render_mode = render_mode
        # Discrete is typed as a space of np.int64, but it contains (and we return) plain ints.
        self.observation_space = spaces.Discrete(layout.num_states)  # type: ignore[assignment]
        self.action_space = spaces.Discrete(len(_DELTAS))  # type: ignore[assignment]
        self.total_steps = 0
        self._layout = layout
        self._pos: Pos = layout.start
        self._maybe_change()

    @property
    def layout(self) -> MazeLayout:
        """The layout in force now (the changed one once ``total_steps >= change_at``)."""
        return self._layout

    @property
    def position(self) -> Pos:
        """The agent's cell ``(row, col)``."""
        return self._pos

    def set_total_steps(self, total_steps: int) -> None:
        """Set the world clock (a resumed run puts it where it stopped); the layout follows it."""
        if total_steps < 0:
            raise DreamlabError(f"GridMaze total_steps must be >= 0, got {total_steps}")
        self.total_steps = int(total_steps)
        self._layout = self.initial_layout
        self._maybe_change()

    def _maybe_change(self) -> None:
        if (
            self.changed_layout is not None
            and self.change_at is not None
            and self.total_steps >= self.change_at
        ):
            self._layout = self.changed_layout

    def _info(self) -> dict[str, Any]:
        # total_steps stays out of info: a seeded reset must give the same info (gymnasium's checker),
        # and the clock deliberately survives resets. Read it from ``env.unwrapped.total_steps``.
        return {"position": self._pos}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Put the agent on the start cell (or ``options["position"]``); ``total_steps`` is kept."""
        super().reset(seed=seed)
        pos = self._layout.start
        if options and options.get("position") is not None:
            r, c = options["position"]
            pos = (int(r), int(c))
            if not self._layout.in_bounds(pos):
                raise DreamlabError(f"GridMaze reset position {pos} is outside the grid")
        self._pos = pos
        return self._layout.index(self._pos), self._info()

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """Move one cell; +1 and terminated on arriving at the goal; may switch the layout after."""
        if not self.action_space.contains(action):
            raise DreamlabError(f"GridMaze action must be one of 0, 1, 2, 3, got {action!r}")
        self._pos = self._layout.move(self._pos, int(action))
        terminated = self._pos == self._layout.goal
        obs = self._layout.index(self._pos)
        self.total_steps += 1
        # The change applies from the next step on: this step was the last in the old layout.
        self._maybe_change()
        return obs, float(terminated), terminated, False, self._info()

    def render(self) -> Any:
        """``"ansi"``: the maze as text; ``"rgb_array"``: uint8 [rows * 8, cols * 8, 3]."""
        if self.render_mode == "ansi":
            return self._layout.render_ascii(agent=self._pos)
        if self.render_mode == "rgb_array":
            return self._layout.render_rgb(agent=self._pos)
        return None


def dyna_maze(*, render_mode: str | None = None) -> GridMaze:
    """The Dyna Maze of Example 8.1 (Figure 8.2)."""
    return GridMaze(DYNA_MAZE, render_mode=render_mode)


def blocking_maze(
    *, change_at: int = BLOCKING_CHANGE_AT, render_mode: str | None = None
) -> GridMaze:
    """The blocking maze of Example 8.2 (Figure 8.4): the short path closes after ``change_at`` steps."""
    return GridMaze(BLOCKING_MAZE, BLOCKING_MAZE_CHANGED, change_at, render_mode=render_mode)


def shortcut_maze(
    *, change_at: int = SHORTCUT_CHANGE_AT, render_mode: str | None = None
) -> GridMaze:
    """The shortcut maze of Example 8.3 (Figure 8.5): a shortcut opens after ``change_at`` steps."""
    return GridMaze(SHORTCUT_MAZE, SHORTCUT_MAZE_CHANGED, change_at, render_mode=render_mode)
