"""V-JEPA's networks: a small video ViT over 2 x p x p tubelets (the context encoder; its EMA copy
is the target encoder), the shared narrow predictor with mask tokens, and the loss on layer-normed
target features.

The transformer block, the predictor, the positional embeddings and the EMA come from the shared
``dreamlab.nn.vit`` and ``dreamlab.nn.ema`` (I-JEPA uses the same ones).

Shapes: B batch, T frames, H/W frame side, P tokens of the (T / tubelet, H / p, W / p) grid,
Nc context tokens, Nt target tokens, D encoder width, p patch side, u tubelet length.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.nn.vit import Block, gather_tokens, sincos_3d, vit_init

__all__ = ["VideoViT", "clip_pixels", "l1_loss", "target_features", "tubelets"]


def clip_pixels(clips: Tensor) -> Tensor:
    """uint8 clips [B, T, H, W, 3] -> float [B, 3, T, H, W] in [-1, 1]."""
    return clips.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)


def tubelets(x: Tensor, tubelet: int, patch: int) -> Tensor:
    """Clips [B, 3, T, H, W] -> tubelets [B, P, 3 * u * p * p] in raster order (time slowest),
    each flattened channel first (the layout of the Conv3d embedding's kernel)."""
    b, c, t, h, w = x.shape
    gt, gh, gw = t // tubelet, h // patch, w // patch
    cells = x.reshape(b, c, gt, tubelet, gh, patch, gw, patch)
    cells = cells.permute(0, 2, 4, 6, 1, 3, 5, 7)  # [B, gt, gh, gw, 3, u, p, p]
    return cells.reshape(b, gt * gh * gw, c * tubelet * patch * patch)


class VideoViT(nn.Module):
    """A ViT over ``tubelet`` x ``patch`` x ``patch`` tubelets of clips of ``frames`` RGB frames
    of ``image_size`` pixels a side, with fixed 3D sin-cos positional embeddings."""

    pos: Tensor  # fixed sin-cos embeddings [P, D], a buffer

    def __init__(
        self,
        frames: int,
        image_size: int,
        patch: int,
        tubelet: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if image_size % patch or frames % tubelet:
            raise ValueError(
                f"{frames} frames of {image_size} pixels do not split into tubelets of "
                f"{tubelet} x {patch} x {patch}"
            )
        self.patch, self.tubelet, self.dim = patch, tubelet, dim
        self.grid = (frames // tubelet, image_size // patch, image_size // patch)
        size = (tubelet, patch, patch)
        self.embed = nn.Conv3d(3, dim, kernel_size=size, stride=size)
        self.register_buffer("pos", sincos_3d(*self.grid, dim), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.apply(vit_init)

    @property
    def tokens(self) -> int:
        """P, the number of tubelets of a clip."""
        return self.grid[0] * self.grid[1] * self.grid[2]

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """Clips [B, 3, T, H, W] -> tokens [B, P, D], or [B, Nkeep, D] for token indices ``keep``
        [B, Nkeep]: then only those tubelets are embedded, so nothing else reaches the output."""
        b = x.shape[0]
        if keep is None:
            tokens = self.embed(x).flatten(2).transpose(1, 2) + self.pos  # [B, P, D]
        else:
            kept = gather_tokens(tubelets(x, self.tubelet, self.patch), keep)  # [B, Nkeep, 3upp]
            kept = kept.reshape(-1, 3, self.tubelet, self.patch, self.patch)
            tokens = self.embed(kept).reshape(b, keep.shape[1], self.dim) + self.pos[keep]
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def encode(self, obs: Tensor) -> Tensor:
        """The ``Encoder`` contract: clips [B, 3, T, H, W] -> tokens [B, P, D]."""
        return self(obs)


def target_features(target_tokens: Tensor, target_idx: Tensor) -> Tensor:
    """The regression targets: the target encoder's tokens [B, P, D] layer-normed over D without
    affine (over all tokens, as in the released code), picked at target tokens [B, Nt]
    -> [B, Nt, D]."""
    normed = F.layer_norm(target_tokens, target_tokens.shape[-1:])
    return gather_tokens(normed, target_idx)


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """V-JEPA's loss: the mean absolute difference between predicted and target features."""
    return (pred - target).abs().mean()
