"""I-JEPA's networks: a small ViT context encoder, its EMA copy (the target encoder), and a narrow
ViT predictor that fills in target blocks from the context; plus the loss and the EMA update.

Shapes: B batch, P patches of the grid, Nc context patches, M target blocks, Nt patches per block,
D encoder width, Dp predictor width.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Block",
    "Predictor",
    "ViTEncoder",
    "ema_momentum",
    "ema_update",
    "gather_tokens",
    "pixels",
    "prediction_loss",
    "sincos_2d",
    "target_features",
]


def pixels(images: Tensor) -> Tensor:
    """uint8 images [B, H, W, 3] -> float [B, 3, H, W] in [-1, 1]."""
    return images.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def sincos_2d(h: int, w: int, dim: int) -> Tensor:
    """Fixed 2D sine-cosine positional embeddings [h * w, dim] in raster order (MAE's recipe):
    the first half of the features encodes the row, the second half the column."""
    if dim % 4:
        raise ValueError(f"sin-cos embeddings need a width divisible by 4, got {dim}")
    freq = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))

    def axis(n: int) -> Tensor:
        angle = torch.arange(n, dtype=torch.float64)[:, None] * freq  # [n, dim / 4]
        return torch.cat([angle.sin(), angle.cos()], dim=1)  # [n, dim / 2]

    rows = axis(h)[:, None, :].expand(h, w, dim // 2)
    cols = axis(w)[None, :, :].expand(h, w, dim // 2)
    return torch.cat([rows, cols], dim=-1).reshape(h * w, dim).float()


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """Tokens [B, P, D] picked at patch indices [B, ...] -> [B, ..., D]."""
    b, _, d = x.shape
    flat = index.reshape(b, -1)  # [B, K]
    picked = torch.gather(x, 1, flat[..., None].expand(-1, -1, d))  # [B, K, D]
    return picked.reshape(*index.shape, d)


def _init(module: nn.Module) -> None:
    # ViT's usual initialisation: small truncated-normal weights, zero biases, unit LayerNorms.
    if isinstance(module, (nn.Linear, nn.Conv2d)):
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


class ViTEncoder(nn.Module):
    """A ViT over ``patch`` x ``patch`` patches of ``image_size`` images with 3 channels."""

    pos: Tensor  # fixed sin-cos embeddings [P, D], a buffer

    def __init__(
        self, image_size: int, patch: int, dim: int, depth: int, heads: int, mlp_ratio: float = 4.0
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
        self.apply(_init)

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
            gh, gw = self.grid
            cells = x.reshape(b, 3, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5)  # [B, gh, gw, 3, p, p]
            cells = cells.reshape(b, gh * gw, 3 * p * p)
            kept = gather_tokens(cells, keep).reshape(-1, 3, p, p)  # [B * Nkeep, 3, p, p]
            tokens = self.embed(kept).reshape(b, keep.shape[1], self.dim) + self.pos[keep]
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def encode(self, obs: Tensor) -> Tensor:
        """The ``Encoder`` contract: images [B, 3, H, W] -> tokens [B, P, D]."""
        return self(obs)


class Predictor(nn.Module):
    """The narrow ViT g_phi: from context tokens and the positions of one target block, predict
    the target encoder's tokens of that block. Each block is predicted in its own sequence
    (context + that block's mask tokens), so blocks never attend to each other."""

    pos: Tensor  # fixed sin-cos embeddings [P, Dp], a buffer

    def __init__(
        self,
        grid: tuple[int, int],
        dim: int,
        pred_dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(dim, pred_dim)
        self.mask_token = nn.Parameter(torch.zeros(pred_dim))
        self.register_buffer("pos", sincos_2d(*grid, pred_dim), persistent=False)
        self.blocks = nn.ModuleList(Block(pred_dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(pred_dim)
        self.out = nn.Linear(pred_dim, dim)
        self.apply(_init)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, context: Tensor, context_idx: Tensor, target_idx: Tensor) -> Tensor:
        """Context tokens [B, Nc, D] at patches [B, Nc], target patches [B, M, Nt]
        -> predicted tokens [B, M, Nt, D]."""
        b, m, nt = target_idx.shape
        nc = context_idx.shape[1]
        ctx = self.inp(context) + self.pos[context_idx]  # [B, Nc, Dp]
        queries = self.mask_token + self.pos[target_idx]  # [B, M, Nt, Dp]
        ctx = ctx[:, None].expand(b, m, nc, -1)  # the same context for every block
        x = torch.cat([ctx, queries], dim=2).reshape(b * m, nc + nt, -1)  # [B * M, Nc + Nt, Dp]
        for block in self.blocks:
            x = block(x)
        x = self.out(self.norm(x[:, nc:]))  # [B * M, Nt, D]
        return x.reshape(b, m, nt, -1)


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


def ema_momentum(step: int, total: int, start: float = 0.996, end: float = 1.0) -> float:
    """Momentum of the target encoder at update ``step`` of ``total``: linear from ``start``
    (step 0) to ``end`` (step total - 1)."""
    if total <= 1:
        return end
    frac = min(max(step / (total - 1), 0.0), 1.0)
    return start + (end - start) * frac


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """theta_bar <- m theta_bar + (1 - m) theta: each target parameter moves (1 - m) of the way
    to its online counterpart."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.lerp_(o, 1.0 - momentum)
