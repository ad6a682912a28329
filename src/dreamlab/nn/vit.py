"""Vision-transformer pieces shared by the JEPA systems: fixed sine-cosine positional embeddings
(2D for image patches, 3D for video tubelets), token gathering, a pre-norm transformer block, the
usual ViT initialisation, and the narrow predictor that fills in masked positions from context
tokens.

Shapes: B batch, P tokens of the grid, Nc context tokens, M groups of targets, Nt tokens per
group, D encoder width, Dp predictor width, Do output width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "Block",
    "Predictor",
    "gather_tokens",
    "sincos",
    "sincos_1d",
    "sincos_2d",
    "sincos_3d",
    "vit_init",
]


def sincos_1d(n: int, dim: int) -> Tensor:
    """Fixed sine-cosine embeddings of positions 0..n-1: float64 [n, dim], sines then cosines,
    frequencies 1 / 10000^(k / (dim / 2)) for k < dim / 2."""
    if dim % 2:
        raise ValueError(f"sin-cos embeddings need an even width per axis, got {dim}")
    freq = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))
    angle = torch.arange(n, dtype=torch.float64)[:, None] * freq  # [n, dim / 2]
    return torch.cat([angle.sin(), angle.cos()], dim=1)


def sincos_2d(h: int, w: int, dim: int) -> Tensor:
    """Fixed 2D sine-cosine positional embeddings [h * w, dim] in raster order (MAE's recipe):
    the first half of the features encodes the row, the second half the column."""
    if dim % 4:
        raise ValueError(f"sin-cos embeddings need a width divisible by 4, got {dim}")
    rows = sincos_1d(h, dim // 2)[:, None, :].expand(h, w, dim // 2)
    cols = sincos_1d(w, dim // 2)[None, :, :].expand(h, w, dim // 2)
    return torch.cat([rows, cols], dim=-1).reshape(h * w, dim).float()


def sincos_3d(t: int, h: int, w: int, dim: int) -> Tensor:
    """Fixed 3D sine-cosine positional embeddings [t * h * w, dim] in raster order (time slowest):
    half the features encode time, a quarter the row, a quarter the column (the default split of
    V-JEPA's ``get_3d_sincos_pos_embed``; its released configs set ``uniform_power`` for equal
    thirds instead)."""
    if dim % 8:
        raise ValueError(f"3D sin-cos embeddings need a width divisible by 8, got {dim}")
    times = sincos_1d(t, dim // 2)[:, None, None, :].expand(t, h, w, dim // 2)
    rows = sincos_1d(h, dim // 4)[None, :, None, :].expand(t, h, w, dim // 4)
    cols = sincos_1d(w, dim // 4)[None, None, :, :].expand(t, h, w, dim // 4)
    return torch.cat([times, rows, cols], dim=-1).reshape(t * h * w, dim).float()


def sincos(grid: tuple[int, ...], dim: int) -> Tensor:
    """The embeddings [prod(grid), dim] of a 2D (h, w) or 3D (t, h, w) token grid."""
    if len(grid) == 2:
        return sincos_2d(grid[0], grid[1], dim)
    if len(grid) == 3:
        return sincos_3d(grid[0], grid[1], grid[2], dim)
    raise ValueError(f"a token grid has 2 or 3 axes, got {grid}")


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """Tokens [B, P, D] picked at token indices [B, ...] -> [B, ..., D]."""
    b, _, d = x.shape
    flat = index.reshape(b, -1)  # [B, K]
    picked = torch.gather(x, 1, flat[..., None].expand(-1, -1, d))  # [B, K, D]
    return picked.reshape(*index.shape, d)


def vit_init(module: nn.Module) -> None:
    """ViT's usual initialisation, for ``module.apply``: truncated-normal weights (std 0.02) for
    linear and patch-embedding layers, zero biases, unit LayerNorms."""
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Block(nn.Module):
    """A pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        """Tokens [B, N, D] -> [B, N, D]."""
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Predictor(nn.Module):
    """A narrow ViT that fills in masked positions: from context tokens and the positions of one
    group of targets, predict a vector per target position (the target encoder's tokens for a
    JEPA, pixels for a masked autoencoder). Each group is predicted in its own sequence (context
    + that group's mask tokens), so groups never attend to each other.

    ``grid`` is the token grid, (h, w) for images or (t, h, w) for video; it picks the fixed
    sin-cos positional embeddings. Outputs have width ``out_dim`` (default ``dim``).
    """

    pos: Tensor  # fixed sin-cos embeddings [P, Dp], a buffer

    def __init__(
        self,
        grid: tuple[int, ...],
        dim: int,
        pred_dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(dim, pred_dim)
        self.mask_token = nn.Parameter(torch.zeros(pred_dim))
        self.register_buffer("pos", sincos(grid, pred_dim), persistent=False)
        self.blocks = nn.ModuleList(Block(pred_dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(pred_dim)
        self.out = nn.Linear(pred_dim, out_dim or dim)
        self.apply(vit_init)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, context: Tensor, context_idx: Tensor, target_idx: Tensor) -> Tensor:
        """Context tokens [B, Nc, D] at positions [B, Nc], target positions [B, M, Nt]
        -> predictions [B, M, Nt, Do]."""
        b, m, nt = target_idx.shape
        nc = context_idx.shape[1]
        ctx = self.inp(context) + self.pos[context_idx]  # [B, Nc, Dp]
        queries = self.mask_token + self.pos[target_idx]  # [B, M, Nt, Dp]
        ctx = ctx[:, None].expand(b, m, nc, -1)  # the same context for every group
        x = torch.cat([ctx, queries], dim=2).reshape(b * m, nc + nt, -1)  # [B * M, Nc + Nt, Dp]
        for block in self.blocks:
            x = block(x)
        x = self.out(self.norm(x[:, nc:]))  # [B * M, Nt, Do]
        return x.reshape(b, m, nt, -1)
