"""I-JEPA's networks: a small ViT context encoder, its EMA copy (the target encoder), and a narrow
ViT predictor that fills in target blocks from the context; plus the loss and the EMA update.

The transformer block, the predictor, the positional embeddings and the EMA live in the shared
``dreamlab.nn.vit`` and ``dreamlab.nn.ema`` (V-JEPA uses them too); they are re-exported here.

Shapes: B batch, P patches of the grid, Nc context patches, M target blocks, Nt patches per block,
D encoder width, Dp predictor width, p patch side.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.nn.ema import ema_momentum, ema_update
from dreamlab.nn.vit import Block, Predictor, gather_tokens, sincos_2d, vit_init

__all__ = [
    "Block",
    "Predictor",
    "ViTEncoder",
    "ema_momentum",
    "ema_update",
    "gather_tokens",
    "patchify",
    "pixels",
    "prediction_loss",
    "sincos_2d",
    "target_features",
]


def pixels(images: Tensor) -> Tensor:
    """uint8 images [B, H, W, 3] -> float [B, 3, H, W] in [-1, 1]."""
    return images.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def patchify(x: Tensor, patch: int) -> Tensor:
    """Images [B, 3, H, W] -> patches [B, P, 3 * p * p] in raster order, each flattened channel
    first (the layout of the patch embedding's kernel)."""
    b, c, h, w = x.shape
    gh, gw = h // patch, w // patch
    cells = x.reshape(b, c, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5)  # [B, gh, gw, 3, p, p]
    return cells.reshape(b, gh * gw, c * patch * patch)


class ViTEncoder(nn.Module):
    """A ViT over ``patch`` x ``patch`` patches of ``image_size`` images with 3 channels; the
    patch embedding's weights start at ``embed_std`` (the other layers as ``vit_init``)."""

    pos: Tensor  # fixed sin-cos embeddings [P, D], a buffer

    def __init__(
        self,
        image_size: int,
        patch: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        embed_std: float = 0.02,
    ) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image size {image_size} is not a multiple of the patch {patch}")
        self.patch = patch
        self.grid = (image_size // patch, image_size // patch)
        self.dim = dim
        self.embed = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.register_buffer("pos", sincos_2d(*self.grid, dim), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.apply(vit_init)
        nn.init.trunc_normal_(self.embed.weight, std=embed_std)

    @property
    def patches(self) -> int:
        """P, the number of patches of an image."""
        return self.grid[0] * self.grid[1]

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """Images [B, 3, H, W] -> tokens [B, P, D], or [B, Nkeep, D] for patch indices ``keep``
        [B, Nkeep]: then only those patches are embedded, so nothing else reaches the output."""
        b, p = x.shape[0], self.patch
        if keep is None:
            tokens = self.embed(x).flatten(2).transpose(1, 2) + self.pos  # [B, P, D]
        else:
            kept = gather_tokens(patchify(x, p), keep).reshape(-1, 3, p, p)  # [B * Nkeep, 3, p, p]
            tokens = self.embed(kept).reshape(b, keep.shape[1], self.dim) + self.pos[keep]
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def encode(self, obs: Tensor) -> Tensor:
        """The ``Encoder`` contract: images [B, 3, H, W] -> tokens [B, P, D]."""
        return self(obs)


def target_features(target_tokens: Tensor, target_idx: Tensor) -> Tensor:
    """The regression targets s_y: the target encoder's tokens [B, P, D] layer-normed over D
    without affine (over all patches, as in the released code), picked at target patches
    [B, M, Nt] -> [B, M, Nt, D]."""
    normed = F.layer_norm(target_tokens, target_tokens.shape[-1:])
    return gather_tokens(normed, target_idx)


def prediction_loss(
    pred: Tensor, target: Tensor, kind: Literal["l2", "smooth_l1"] = "l2"
) -> Tensor:
    """Distance between predicted and target tokens [B, M, Nt, D], averaged over every element.

    ``"l2"`` is the paper's squared L2 distance (as a mean over features, i.e. divided by D);
    ``"smooth_l1"`` (Huber with beta 1) is what the released code uses.
    """
    if kind == "l2":
        return F.mse_loss(pred, target)
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred, target, beta=1.0)
    raise ValueError(f"unknown loss {kind!r}; choose l2 or smooth_l1")
