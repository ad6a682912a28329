"""I-JEPA's multi-block masking (Assran et al. 2023, Section 3 and Appendix C) on a grid of patches.

Patches are numbered in raster order: patch ``i`` sits at row ``i // w``, column ``i % w``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Masks", "block_shape", "sample_masks"]

MAX_TRIES = 100
"""Redraws of one image's blocks before the settings are declared impossible."""


@dataclass(frozen=True)
class Masks:
    """The patches one batch shows the context encoder and asks the predictor for.

    ``context`` int64 [B, Nc] and ``targets`` int64 [B, M, Nt] hold patch indices in raster order,
    ascending within each row and each block.
    """

    context: torch.Tensor
    targets: torch.Tensor
    target_block: tuple[int, int]
    """(height, width) in patches shared by every target block of the batch."""
    context_block: tuple[int, int]
    """(height, width) in patches of every image's context block before the targets are removed."""


def block_shape(
    grid: tuple[int, int], scale: float, aspect: float, max_size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """(height, width) of a block covering ``scale`` of the grid with height / width ``aspect``.

    Both sides are rounded to whole patches and clipped to [1, max_size] (default: the grid).
    """
    h, w = grid
    max_h, max_w = max_size or grid
    area = scale * h * w
    bh = min(max(round(math.sqrt(area * aspect)), 1), max_h)
    bw = min(max(round(math.sqrt(area / aspect)), 1), max_w)
    return bh, bw


def _blocks(
    rng: np.random.Generator, n: int, k: int, grid: tuple[int, int], shape: tuple[int, int]
) -> np.ndarray:
    """``k`` blocks of ``shape`` at uniform positions for each of ``n`` images: bool [n, k, h, w]."""
    (h, w), (bh, bw) = grid, shape
    top = rng.integers(0, h - bh + 1, size=(n, k))[..., None, None]
    left = rng.integers(0, w - bw + 1, size=(n, k))[..., None, None]
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    return (rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw)


def _first_true(mask: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first ``count`` True entries along the last axis (each row has enough)."""
    # A stable sort of ~mask puts the True entries first, in their original order.
    return np.argsort(~mask, axis=-1, kind="stable")[..., :count]


def sample_masks(
    rng: np.random.Generator,
    grid: tuple[int, int],
    batch: int,
    n_targets: int = 4,
    target_scale: tuple[float, float] = (0.15, 0.2),
    target_aspect: tuple[float, float] = (0.75, 1.5),
    context_scale: tuple[float, float] = (0.85, 1.0),
    min_keep: int = 4,
) -> Masks:
    """Sample the context and target patches of a batch of ``batch`` images on a ``grid`` (h, w).

    Exactly:

    1. Once per batch: a target scale s ~ U(target_scale) and aspect a ~ U(target_aspect)
       (height / width) give the target block shape (round(sqrt(s h w a)), round(sqrt(s h w / a))),
       and a context scale c ~ U(context_scale) with aspect 1 gives the context block shape
       (round(sqrt(c h w)), round(sqrt(c h w))); sides are clipped to [1, grid side].
    2. Per image: ``n_targets`` target blocks at independent uniform positions (fully inside the
       grid; they may overlap each other), and one context block at a uniform position.
    3. The context is the context block minus every patch of every target block, so context and
       targets never overlap. An image whose context keeps fewer than ``min_keep`` patches draws
       all its block positions again (up to ``MAX_TRIES`` times, then ValueError).
    4. All rows must stack: every image's context is cut to the batch's smallest context size Nc,
       keeping the first Nc patches in raster order (the released collator does the same; it drops
       patches from the bottom of the larger contexts). Target blocks all hold Nt = height x width
       patches, so they are never cut.

    Deviation from the released collator: block positions include the last row and column (its
    ``randint`` excludes them) and a block may span the whole grid, so the context block on a small
    grid can cover all of it.
    """
    h, w = grid
    if batch < 1 or n_targets < 1:
        raise ValueError(f"batch and n_targets must be at least 1, got {batch} and {n_targets}")
    s = rng.uniform(*target_scale)
    a = rng.uniform(*target_aspect)
    c = rng.uniform(*context_scale)
    t_shape = block_shape(grid, s, a)
    c_shape = block_shape(grid, c, 1.0)

    targets = np.zeros((batch, n_targets, h, w), bool)
    context = np.zeros((batch, h, w), bool)
    todo = np.arange(batch)
    for _ in range(MAX_TRIES):
        targets[todo] = _blocks(rng, len(todo), n_targets, grid, t_shape)
        block = _blocks(rng, len(todo), 1, grid, c_shape)[:, 0]
        context[todo] = block & ~targets[todo].any(axis=1)
        todo = todo[context[todo].sum(axis=(1, 2)) < min_keep]
        if len(todo) == 0:
            break
    else:
        raise ValueError(
            f"cannot keep {min_keep} context patches on a {h}x{w} grid around {n_targets} target "
            f"blocks of {t_shape[0]}x{t_shape[1]}: lower min_keep or the target scale"
        )

    nc = int(context.sum(axis=(1, 2)).min())
    nt = t_shape[0] * t_shape[1]
    ctx_idx = _first_true(context.reshape(batch, h * w), nc)
    tgt_idx = _first_true(targets.reshape(batch, n_targets, h * w), nt)
    return Masks(
        context=torch.from_numpy(ctx_idx.astype(np.int64)),  # [B, Nc]
        targets=torch.from_numpy(tgt_idx.astype(np.int64)),  # [B, M, Nt]
        target_block=t_shape,
        context_block=c_shape,
    )
