"""Videos and frame strips: a model's dream next to reality, as a GIF or MP4."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw

from dreamlab.train.files import atomic_write_bytes

__all__ = ["label_frame", "side_by_side", "write_video"]


def label_frame(frame: np.ndarray, text: str, height: int = 14) -> np.ndarray:
    """Put a caption bar above an image [Hh, W, 3] uint8 -> [Hh + height, W, 3] uint8."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"label_frame needs an [Hh, W, 3] uint8 image, got {frame.shape} {frame.dtype}"
        )
    bar = Image.new("RGB", (frame.shape[1], height), (255, 255, 255))
    ImageDraw.Draw(bar).text((2, 1), text, fill=(0, 0, 0))
    return np.concatenate([np.asarray(bar, dtype=np.uint8), frame], axis=0)


def side_by_side(
    columns: Sequence[Sequence[np.ndarray]], labels: Sequence[str], gap: int = 4
) -> list[np.ndarray]:
    """Join several frame sequences into one, column by column, each under its label.

    ``columns`` holds one list of [Hh, W, 3] uint8 frames per column (for example real frames and the
    model's imagined frames); shorter columns hold their last frame. Returns the joined frames.
    """
    if len(columns) != len(labels) or not columns:
        raise ValueError("side_by_side needs one label per column and at least one column")
    length = max(len(c) for c in columns)
    if min(len(c) for c in columns) == 0:
        raise ValueError("side_by_side got an empty column")
    height = max(c[0].shape[0] for c in columns)
    out = []
    for t in range(length):
        tiles = []
        for col, label in zip(columns, labels, strict=True):
            frame = col[min(t, len(col) - 1)]
            pad = height - frame.shape[0]
            frame = np.pad(frame, ((0, pad), (0, 0), (0, 0)), constant_values=255)
            tiles.append(label_frame(frame, label))
            tiles.append(np.full((height + 14, gap, 3), 255, dtype=np.uint8))
        out.append(np.concatenate(tiles[:-1], axis=1))
    return out


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: float = 4.0) -> Path:
    """Write frames [Hh, W, 3] uint8 to a GIF (or any format imageio knows by the suffix), atomically."""
    path = Path(path)
    if not frames:
        raise ValueError("write_video got no frames")
    stack = np.stack(list(frames))  # [T, Hh, W, 3]
    extension = path.suffix or ".gif"
    kwargs: dict[str, Any] = (
        {"duration": 1000.0 / fps, "loop": 0} if extension == ".gif" else {"fps": fps}
    )
    data: bytes = iio.imwrite("<bytes>", stack, extension=extension, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path
