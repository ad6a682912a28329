"""Tic-tac-toe as a two-player gymnasium environment, with an exact minimax player.

The board is 9 cells, index ``3 * row + col``; X (who moves first) is +1, O is -1, empty 0. The
observation is from the view of the player to move: planes [own stones, opponent stones, ones if
that player is X] as a float32 vector [27]. ``info`` carries ``legal`` [9] (bool) and ``to_play``
(0 for X, 1 for O). The reward, +1, goes to the player whose move wins; a draw ends with 0. Both
players act through ``step``: self-play and play against a fixed opponent use the same env.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from dreamlab.errors import DreamlabError

__all__ = [
    "LINES",
    "SYMMETRIES",
    "TicTacToe",
    "minimax_blunders",
    "minimax_move",
    "minimax_value",
    "observe",
    "tictactoe",
    "winner",
]

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def _symmetries() -> np.ndarray:
    """The 8 symmetries of the square board as cell permutations [8, 9]: new cell i holds old
    cell ``perm[i]`` (4 rotations, each with and without a mirror)."""
    perms = []
    for mirror in (False, True):
        for turns in range(4):
            perm = []
            for i in range(9):
                r, c = divmod(i, 3)
                for _ in range(turns):  # rotate the source coordinate a quarter turn
                    r, c = c, 2 - r
                if mirror:
                    c = 2 - c
                perm.append(3 * r + c)
            perms.append(perm)
    return np.asarray(perms, np.int64)


SYMMETRIES = _symmetries()
"""[8, 9] cell permutations under which the game, its values and its optimal moves are unchanged."""


def winner(board: tuple[int, ...]) -> int:
    """+1 if X has three in a row, -1 if O has, 0 otherwise."""
    for a, b, c in LINES:
        if board[a] != 0 and board[a] == board[b] == board[c]:
            return board[a]
    return 0


def _to_play(board: tuple[int, ...]) -> int:
    return 1 if sum(1 for x in board if x != 0) % 2 == 0 else -1


def _play(board: tuple[int, ...], i: int, stone: int) -> tuple[int, ...]:
    return (*board[:i], stone, *board[i + 1 :])


@cache
def minimax_value(board: tuple[int, ...]) -> int:
    """The game's value under perfect play for the player to move: +1 win, 0 draw, -1 loss."""
    if winner(board) != 0:
        return -1  # the previous move won
    moves = [i for i in range(9) if board[i] == 0]
    if not moves:
        return 0
    me = _to_play(board)
    best = -2
    for i in moves:
        nxt = _play(board, i, me)
        best = max(best, -minimax_value(nxt))
        if best == 1:
            break
    return best


def minimax_move(board: tuple[int, ...], rng: np.random.Generator) -> int:
    """One of the optimal moves (uniformly among them, so evaluation games differ)."""
    me = _to_play(board)
    moves = [i for i in range(9) if board[i] == 0]
    if not moves or winner(board) != 0:
        raise DreamlabError("minimax_move needs a position that is not over")
    values = [-minimax_value(_play(board, i, me)) for i in moves]
    best = max(values)
    return int(rng.choice([m for m, v in zip(moves, values, strict=True) if v == best]))


def observe(board: tuple[int, ...]) -> np.ndarray:
    """The observation [27] of ``board`` from the view of the player to move (see the module)."""
    me = _to_play(board)
    b = np.asarray(board)
    planes = [b == me, b == -me, np.full(9, me == 1)]
    return np.concatenate(planes).astype(np.float32)


def minimax_blunders(policy: Callable[[tuple[int, ...]], int]) -> list[tuple[tuple[int, ...], int]]:
    """Every (position, move) where a deterministic ``policy`` gives away value against an exact
    player that may pick any of its optimal moves, the policy playing X and then O.

    The walk follows every optimal reply of the exact player and the policy's one move; a move
    that lowers the minimax value of the policy's side is a blunder, and its line is not followed
    further (the exact player wins or draws from there). An empty list proves the policy never
    loses to minimax, whichever optimal moves minimax chooses.
    """
    found: dict[tuple[int, ...], int] = {}
    seen: set[tuple[tuple[int, ...], int]] = set()  # (board, the policy's stone)

    def walk(board: tuple[int, ...], side: int) -> None:
        if (board, side) in seen or winner(board) != 0 or all(x != 0 for x in board):
            return
        seen.add((board, side))
        me = _to_play(board)
        if me == side:
            move = policy(board)
            if not 0 <= move < 9 or board[move] != 0:
                raise DreamlabError(f"the policy played the illegal move {move}")
            nxt = _play(board, move, me)
            if -minimax_value(nxt) < minimax_value(board):
                found[board] = move
            else:
                walk(nxt, side)
            return
        moves = [i for i in range(9) if board[i] == 0]
        values = [-minimax_value(_play(board, i, me)) for i in moves]
        for i, v in zip(moves, values, strict=True):
            if v == max(values):
                walk(_play(board, i, me), side)

    for side in (1, -1):
        walk((0,) * 9, side)
    return list(found.items())


class TicTacToe(gymnasium.Env):
    """Two players, one env: the player to move is in ``info["to_play"]``."""

    symmetries = SYMMETRIES  # for data augmentation (MuZero's ``augment_symmetries``)
    metadata = {"render_modes": ["ansi", "rgb_array"]}  # noqa: RUF012 (gymnasium declares it per instance)

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, (27,), np.float32)
        self.action_space = spaces.Discrete(9)
        self.render_mode = render_mode
        self.board: tuple[int, ...] = (0,) * 9
        self.done = True

    def _obs(self) -> np.ndarray:
        return observe(self.board)

    def _info(self) -> dict[str, Any]:
        legal = np.asarray(self.board) == 0
        return {"legal": legal, "to_play": 0 if _to_play(self.board) == 1 else 1}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.board, self.done = (0,) * 9, False
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.done:
            raise DreamlabError("the game is over: call reset() before step()")
        i = int(action)
        if not 0 <= i < 9 or self.board[i] != 0:
            raise DreamlabError(f"illegal move {i}: the legal moves are in info['legal']")
        me = _to_play(self.board)
        self.board = _play(self.board, i, me)
        won = winner(self.board) != 0
        self.done = won or all(x != 0 for x in self.board)
        return self._obs(), 1.0 if won else 0.0, self.done, False, self._info()

    def render(self) -> Any:
        """``ansi``: the board as text (X, O, .); ``rgb_array``: uint8 [48, 48, 3], X red, O blue."""
        if self.render_mode == "rgb_array":
            frame = np.full((48, 48, 3), 235, np.uint8)
            frame[15:17, :] = frame[31:33, :] = frame[:, 15:17] = frame[:, 31:33] = 60
            colours = {1: (200, 40, 40), -1: (40, 70, 200)}
            for i, stone in enumerate(self.board):
                if stone:
                    r, c = divmod(i, 3)
                    frame[16 * r + 4 : 16 * r + 13, 16 * c + 4 : 16 * c + 13] = colours[stone]
            return frame
        marks = {1: "X", -1: "O", 0: "."}
        rows = ["".join(marks[self.board[3 * r + c]] for c in range(3)) for r in range(3)]
        return "\n".join(rows)


def tictactoe(render_mode: str | None = None) -> TicTacToe:
    """The tic-tac-toe environment (registered as ``"tictactoe"``)."""
    return TicTacToe(render_mode=render_mode)
