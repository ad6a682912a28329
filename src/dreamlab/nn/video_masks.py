"""V-JEPA's 3D multi-block masking (Bardes et al. 2024, Section 3.2 and Appendix) on a grid of
tubelets, shared by V-JEPA and by the V-JEPA 2-AC world model's encoder pretraining.

Tokens are numbered in raster order with time slowest: token ``i`` of a (t, h, w) grid sits at time
slot ``i // (h w)``, row ``(i // w) % h``, column ``i % w``. A block is a spatial rectangle that
spans every time slot of the clip, so a mask is a 2D footprint repeated over time.

Shapes: B batch, Nc context tokens, Nt target tokens, (t, h, w) the token grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from dreamlab.errors import DreamlabError

__all__ = ["MAX_TRIES", "VideoMasks", "block_size", "sample_video_masks"]

MAX_TRIES = 100
"""Redraws of one clip's blocks before the settings are declared impossible."""


@dataclass(frozen=True)
class VideoMasks:
    """One mask set of a batch: the tokens the context encoder sees and the tokens to predict.

    ``context`` int64 [B, Nc] and ``target`` int64 [B, Nt] hold token indices in raster order,
    ascending within each row; ``footprints`` bool [B, n_blocks, h, w] is where each block lies
    in every frame (before the rows are cut to a common length).
    """

    context: torch.Tensor
    target: torch.Tensor
    footprints: torch.Tensor
    block: tuple[int, int]
    """(height, width) in patches shared by every block of the batch."""


def block_size(grid: tuple[int, int], scale: float, aspect: float) -> tuple[int, int]:
    """(height, width) of a block covering ``scale`` of an (h, w) grid with height / width
    ``aspect``, as V-JEPA's collator sizes it: the area int(scale h w) patches, each side rounded,
    clipped to [1, grid side]."""
    h, w = grid
    area = int(scale * h * w)
    bh = min(max(round(math.sqrt(area * aspect)), 1), h)
    bw = min(max(round(math.sqrt(area / aspect)), 1), w)
    return bh, bw


def _first_true(mask: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first ``count`` True entries along the last axis (each row has enough)."""
    # A stable sort of ~mask puts the True entries first, in their original order.
    return np.argsort(~mask, axis=-1, kind="stable")[..., :count]


def sample_video_masks(
    rng: np.random.Generator,
    grid: tuple[int, int, int],
    batch: int,
    n_blocks: int,
    scale: float,
    aspect: tuple[float, float] = (0.75, 1.5),
    min_keep: int = 1,
) -> VideoMasks:
    """Sample one mask set for ``batch`` clips on a (t, h, w) token ``grid``.

    Exactly:

    1. Once per batch: an aspect a ~ U(aspect) gives the block shape ``block_size((h, w), scale,
       a)``; every block spans all t time slots (V-JEPA's temporal scale 1.0).
    2. Per clip: ``n_blocks`` blocks at independent uniform positions fully inside the frame
       (they may overlap). The union of the blocks, in every time slot, is masked; its
       complement is the context, so the two never overlap. A clip that keeps fewer than
       ``min_keep`` context tokens draws its positions again (up to ``MAX_TRIES`` times, then
       DreamlabError: the settings cannot be met).
    3. All rows must stack: every clip's context and target are cut to the batch's smallest
       sizes Nc and Nt, keeping the first tokens in raster order, as V-JEPA's collator does
       (the cut drops tokens of the last time slots first).
    """
    t, h, w = grid
    if batch < 1 or n_blocks < 1:
        raise ValueError(f"batch and n_blocks must be at least 1, got {batch} and {n_blocks}")
    bh, bw = block_size((h, w), scale, rng.uniform(*aspect))
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    footprints = np.zeros((batch, n_blocks, h, w), bool)
    todo = np.arange(batch)
    for _ in range(MAX_TRIES):
        top = rng.integers(0, h - bh + 1, size=(len(todo), n_blocks))[..., None, None]
        left = rng.integers(0, w - bw + 1, size=(len(todo), n_blocks))[..., None, None]
        footprints[todo] = (rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw)
        kept = t * (~footprints[todo].any(axis=1)).sum(axis=(1, 2))  # context tokens per clip
        todo = todo[kept < min_keep]
        if len(todo) == 0:
            break
    else:
        raise DreamlabError(
            f"{n_blocks} blocks of {bh}x{bw} on a {t}x{h}x{w} grid keep no context of "
            f"min_keep={min_keep} tokens: lower min_keep or the mask scale"
        )

    union = np.logical_or.reduce(footprints, axis=1)  # [B, h, w]
    masked = np.broadcast_to(union[:, None], (batch, t, h, w)).reshape(batch, t * h * w)
    nc = int((~masked).sum(axis=1).min())
    nt = int(masked.sum(axis=1).min())
    return VideoMasks(
        context=torch.from_numpy(_first_true(~masked, nc).astype(np.int64)),  # [B, Nc]
        target=torch.from_numpy(_first_true(masked, nt).astype(np.int64)),  # [B, Nt]
        footprints=torch.from_numpy(footprints),  # [B, n_blocks, h, w]
        block=(bh, bw),
    )
