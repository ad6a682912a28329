"""The masked-autoencoder baseline for I-JEPA (He et al. 2022, "Masked Autoencoders Are Scalable
Vision Learners"), set up to differ from I-JEPA in one thing only: what is predicted.

Shared with I-JEPA (``objective="mae"`` of the same config and training loop): the ViT encoder,
the multi-block masks (the context block is the visible set, the union of the target blocks is
what gets reconstructed), the optimiser, its schedules and the number of steps. The decoder is the
I-JEPA predictor's narrow transformer, mask tokens at the target positions included, with its last
layer widened to 3 * p * p pixel values per patch. There is no target encoder.

Reconstruction target: as in MAE's ``norm_pix_loss`` variant (He et al. 2022, Section 3,
"Reconstruction target", and Table 1d), the pixels of each target patch are normalised by that
patch's own mean and standard deviation; the loss is the mean squared error on the target patches
only.

Where this departs from MAE itself, to stay a controlled baseline:

- Masks are I-JEPA's blocks (context block 0.85-1.0 of the image minus 4 target blocks), not MAE's
  75% of patches drawn uniformly at random; patches in neither set are neither seen nor scored.
- Each target block is decoded in its own sequence (context tokens + that block's mask tokens),
  like the I-JEPA predictor, instead of all masked patches in one sequence; a patch covered by two
  blocks is scored twice, as I-JEPA scores it.

Shapes: B batch, M target blocks, Nt patches per block, p patch side.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from dreamlab.algos.ijepa.masks import Masks
from dreamlab.algos.ijepa.model import Predictor, ViTEncoder, gather_tokens, patchify

__all__ = ["NORM_EPS", "mae_loss", "pixel_targets", "reconstruction_loss"]

NORM_EPS = 1e-6
"""Added to each patch's pixel variance before dividing, as MAE's code does (a flat patch has 0)."""


def pixel_targets(x: Tensor, target_idx: Tensor, patch: int) -> Tensor:
    """The per-patch normalised pixels of the target patches: images x [B, 3, H, W], target
    patch indices [B, M, Nt] -> [B, M, Nt, 3 * p * p], each patch at zero mean and unit variance
    over its 3 * p * p values (unbiased variance plus ``NORM_EPS``, as in MAE's code)."""
    cells = gather_tokens(patchify(x, patch), target_idx)  # [B, M, Nt, 3 p p]
    mean = cells.mean(dim=-1, keepdim=True)
    var = cells.var(dim=-1, keepdim=True)
    return (cells - mean) / (var + NORM_EPS).sqrt()


def reconstruction_loss(pred: Tensor, x: Tensor, target_idx: Tensor, patch: int) -> Tensor:
    """Mean squared error between the decoder's pixels [B, M, Nt, 3 * p * p] and the normalised
    pixels of the target patches [B, M, Nt] of images x [B, 3, H, W]."""
    return F.mse_loss(pred, pixel_targets(x, target_idx, patch))


def mae_loss(encoder: ViTEncoder, decoder: Predictor, x: Tensor, masks: Masks) -> Tensor:
    """The MAE loss of images x [B, 3, H, W] under I-JEPA's ``masks``: the encoder embeds the
    context patches only, the decoder fills in the pixels of each target block."""
    visible = encoder(x, keep=masks.context)  # [B, Nc, D]: the target pixels never enter
    pred = decoder(visible, masks.context, masks.targets)  # [B, M, Nt, 3 p p]
    return reconstruction_loss(pred, x, masks.targets, encoder.patch)
