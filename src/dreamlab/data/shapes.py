"""Small labelled image sets for representation learning and frozen-feature probes.

``make_shapes`` draws procedural images of one coloured shape on a noisy background, with four
independent labels (shape, colour, position, size); ``digits`` upsamples scikit-learn's 8 x 8
handwritten digits.

Two backgrounds: ``"plain"``, a flat dark grey, on which an encoder with random weights already
reads colour perfectly and size nearly so from average-pooled tokens (so no training can show a
gain there), and ``"texture"``, a smooth random colour field that the shape's colour and size
must be told apart from, with the hue of each colour class jittered. ``colours`` sets how many
hue classes share the colour circle (6 by default, the names in ``LABELS``; the I-JEPA preset
uses 12, which random weights no longer read almost perfectly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from dreamlab.errors import DreamlabError

__all__ = ["BACKGROUNDS", "LABELS", "ShapesData", "digits", "make_shapes"]

LABELS: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "cross"),
    "colour": ("red", "yellow", "green", "cyan", "blue", "magenta"),
    "position": ("top-left", "top-right", "bottom-left", "bottom-right"),
    "size_class": ("small", "large"),
}
"""Label name -> class names, in the order of the integer labels (``colour``: for the default 6
colours; with ``colours=k`` class i is the hue 360 i / k degrees)."""

BACKGROUNDS = ("plain", "texture")
TEXTURE_MAX = 0.4
"""Brightest value of a textured background, below the dimmest shape (0.7 x 0.75 saturation)."""
TEXTURE_CELLS = 4
"""The textured background is bicubic noise from a grid of this many cells a side."""
HUE_JITTER = 0.25
"""How far a textured image's shape hue may stray from its class's hue, as a fraction of the
spacing between classes (15 degrees for 6 colours, 7.5 for 12)."""
# Radius of the shape as a fraction of the image side, per background and size class: on the
# textured background the classes are closer, so that area alone does not give size away.
_RADIUS = {"plain": ((0.12, 0.16), (0.24, 0.29)), "texture": ((0.15, 0.19), (0.21, 0.26))}


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


def _hsv_fill(hue_deg: np.ndarray, sat: np.ndarray, val: np.ndarray) -> np.ndarray:
    """RGB [N, 3] in [0, 1] of hues in degrees, saturations and values [N] (the HSV cone)."""
    chroma = val * sat
    sector = hue_deg / 60.0
    second = chroma * (1 - np.abs(sector % 2 - 1))
    parts = np.stack((chroma, second, np.zeros_like(chroma)), axis=-1)  # largest, second, zero
    # Per 60-degree sector: the channel (r 0, g 1, b 2) that each of the three parts goes to.
    where = np.array([(0, 1, 2), (1, 0, 2), (1, 2, 0), (2, 1, 0), (2, 0, 1), (0, 2, 1)])
    rgb = np.empty_like(parts)
    np.put_along_axis(rgb, where[np.floor(sector).astype(int) % 6], parts, axis=-1)
    return (rgb + (val - chroma)[:, None]).astype(np.float32)


def make_shapes(
    n: int,
    size: int = 32,
    seed: int = 0,
    background: Literal["plain", "texture"] = "plain",
    colours: int = 6,
) -> ShapesData:
    """``n`` images of ``size`` x ``size`` pixels, the same ones for the same seed.

    Each image: one filled shape of a random class, colour, size class (a radius of 0.12 to 0.16
    or 0.24 to 0.29 of the side; on ``"texture"`` 0.15 to 0.19 or 0.21 to 0.26) and brightness (0.7 to 1),
    centred in a random quadrant at least one pixel from the midlines, wholly inside the image,
    over Gaussian pixel noise (std 0.04 of the range) so that no class is told apart by a
    constant. Every label is drawn uniformly and independently. The background is

    - ``"plain"``: a random dark grey (0 to 0.25), the shape its class's pure hue;
    - ``"texture"``: smooth colour noise (each channel bicubic from a 4 x 4 grid of uniform values
      in [0, 0.4]), the shape's saturation 0.75 to 1 and its hue that of its class jittered by up
      to a quarter of the classes' spacing.

    ``colours`` classes share the hue circle evenly, class i at 360 i / ``colours`` degrees: 6
    gives ``LABELS["colour"]`` (60 degrees apart), 12 adds the hues halfway between them.
    """
    if n < 1 or size < 16:
        raise ValueError(f"make_shapes needs n >= 1 and size >= 16, got n={n}, size={size}")
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; choose from {', '.join(BACKGROUNDS)}")
    if not 2 <= colours <= 36:
        raise ValueError(f"make_shapes takes 2 to 36 colours, got {colours}")
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, len(LABELS["shape"]), n)
    colour = rng.integers(0, colours, n)
    position = rng.integers(0, len(LABELS["position"]), n)
    size_class = rng.integers(0, len(LABELS["size_class"]), n)

    lo_r = np.array([_RADIUS[background][s][0] for s in size_class]) * size
    hi_r = np.array([_RADIUS[background][s][1] for s in size_class]) * size
    r = rng.uniform(lo_r, hi_r)
    spacing = 360.0 / colours  # degrees of hue between neighbouring colour classes
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

    if background == "plain":
        back = rng.uniform(0.0, 0.25, (n, 1, 1, 1)).astype(np.float32)
        fill = _hsv_fill(colour * spacing, np.ones(n), rng.uniform(0.7, 1.0, n))  # pure hues
    else:
        cells = rng.uniform(0.0, TEXTURE_MAX, (n, 3, TEXTURE_CELLS, TEXTURE_CELLS))
        smooth = F.interpolate(
            torch.from_numpy(cells.astype(np.float32)), size=(size, size), mode="bicubic"
        )  # [N, 3, S, S]
        back = smooth.clamp(0.0, TEXTURE_MAX).permute(0, 2, 3, 1).numpy()  # [N, S, S, 3]
        jitter = HUE_JITTER * spacing
        hue = (colour * spacing + rng.uniform(-jitter, jitter, n)) % 360.0
        fill = _hsv_fill(hue, rng.uniform(0.75, 1.0, n), rng.uniform(0.7, 1.0, n))
    img = np.where(mask[..., None], fill[:, None, None, :], back)
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
