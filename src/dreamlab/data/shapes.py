"""Small labelled image sets for representation learning and frozen-feature probes.

``make_shapes`` draws procedural images of one coloured shape on a noisy background, with four
independent labels (shape, colour, position, size); ``digits`` upsamples scikit-learn's 8 x 8
handwritten digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dreamlab.errors import DreamlabError

__all__ = ["LABELS", "ShapesData", "digits", "make_shapes"]

LABELS: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "cross"),
    "colour": ("red", "yellow", "green", "cyan", "blue", "magenta"),
    "position": ("top-left", "top-right", "bottom-left", "bottom-right"),
    "size_class": ("small", "large"),
}
"""Label name -> class names, in the order of the integer labels."""

# Hues 0, 60, ..., 300 degrees at full saturation, in the order of LABELS["colour"].
_HUES = np.array(
    [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1]], dtype=np.float32
)
# Radius of the shape as a fraction of the image side, per size class.
_RADIUS = ((0.12, 0.16), (0.24, 0.29))


@dataclass(frozen=True)
class ShapesData:
    """``images`` uint8 [N, S, S, 3] and one int64 label [N] per name of ``LABELS``."""

    images: np.ndarray
    shape: np.ndarray
    colour: np.ndarray
    position: np.ndarray
    size_class: np.ndarray

    def labels(self) -> dict[str, np.ndarray]:
        """Label name -> int64 labels [N], in the order of ``LABELS``."""
        return {name: getattr(self, name) for name in LABELS}


def _shape_masks(kind: np.ndarray, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Which pixels each shape covers: offsets from its centre dx, dy [N, S, S], radius r [N, 1, 1]."""
    circle = dx**2 + dy**2 <= r**2
    square = np.maximum(np.abs(dx), np.abs(dy)) <= 0.85 * r  # about the circle's area
    # Apex up at -r, base at +0.8 r, half as wide as tall at the base.
    triangle = (dy >= -r) & (dy <= 0.8 * r) & (np.abs(dx) <= (dy + r) / 1.8)
    arm = r / 3
    cross = ((np.abs(dx) <= r) & (np.abs(dy) <= arm)) | ((np.abs(dy) <= r) & (np.abs(dx) <= arm))
    k = kind[:, None, None]
    return np.where(k == 0, circle, np.where(k == 1, square, np.where(k == 2, triangle, cross)))


def make_shapes(n: int, size: int = 32, seed: int = 0) -> ShapesData:
    """``n`` images of ``size`` x ``size`` pixels, the same ones for the same seed.

    Each image: a background of a random dark grey, plus Gaussian pixel noise (std 0.04 of the
    range) so that no class is told apart by a constant; one filled shape of a random class,
    hue, size class and brightness (0.7 to 1), centred in a random quadrant at least one pixel
    from the midlines, wholly inside the image. Every label is drawn uniformly and independently.
    """
    if n < 1 or size < 16:
        raise ValueError(f"make_shapes needs n >= 1 and size >= 16, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, len(LABELS["shape"]), n)
    colour = rng.integers(0, len(LABELS["colour"]), n)
    position = rng.integers(0, len(LABELS["position"]), n)
    size_class = rng.integers(0, len(LABELS["size_class"]), n)

    lo_r = np.array([_RADIUS[s][0] for s in size_class]) * size
    hi_r = np.array([_RADIUS[s][1] for s in size_class]) * size
    r = rng.uniform(lo_r, hi_r)
    half = size / 2
    # A centre in [r + 1, half - 1] or [half + 1, size - r - 1] on each axis, as the quadrant says.
    right, bottom = position % 2, position // 2

    def centre(upper: np.ndarray) -> np.ndarray:
        lo = np.where(upper == 1, half + 1, r + 1)
        hi = np.where(upper == 1, size - r - 1, half - 1)
        return rng.uniform(lo, hi)

    cx, cy = centre(right), centre(bottom)
    coords = np.arange(size) + 0.5  # pixel centres
    dx = coords[None, None, :] - cx[:, None, None]  # [N, 1, S]
    dy = coords[None, :, None] - cy[:, None, None]  # [N, S, 1]
    dx, dy = np.broadcast_arrays(dx, dy)  # [N, S, S]
    mask = _shape_masks(shape, dx, dy, r[:, None, None])

    background = rng.uniform(0.0, 0.25, (n, 1, 1, 1)).astype(np.float32)
    fill = _HUES[colour] * rng.uniform(0.7, 1.0, (n, 1)).astype(np.float32)  # [N, 3]
    img = np.where(mask[..., None], fill[:, None, None, :], background)
    img = img + rng.normal(0.0, 0.04, img.shape).astype(np.float32)
    images = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return ShapesData(
        images=images,
        shape=shape.astype(np.int64),
        colour=colour.astype(np.int64),
        position=position.astype(np.int64),
        size_class=size_class.astype(np.int64),
    )


def digits(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits, bilinearly upsampled from 8 x 8 to ``size`` and
    repeated over 3 channels: images uint8 [1797, size, size, 3] and labels int64 [1797]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DreamlabError(
            "the digits data set needs scikit-learn: pip install scikit-learn"
        ) from None
    data = load_digits()
    grey = torch.as_tensor(data.images, dtype=torch.float32)[:, None] / 16.0  # [N, 1, 8, 8]
    big = F.interpolate(grey, size=(size, size), mode="bilinear", align_corners=False)
    images = (big.clamp(0, 1) * 255).round().to(torch.uint8)[:, 0, :, :, None]  # [N, S, S, 1]
    return images.repeat(1, 1, 1, 3).numpy(), np.asarray(data.target, dtype=np.int64)
