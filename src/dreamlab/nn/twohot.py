"""Scalars as categorical distributions: MuZero's value transform h(x) and two-hot encoding.

MuZero predicts values and rewards as a categorical over an integer support -S..S of the
transformed scalar h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x. A target scalar becomes a two-hot
vector: the weight sits on the two support points around h(x), split so that the expectation is
exactly h(x). The prediction's scalar is h^-1 of the expectation.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["from_logits", "support", "to_two_hot", "value_inverse", "value_transform"]

EPS = 0.001


def value_transform(x: Tensor, eps: float = EPS) -> Tensor:
    """h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x: squashes large returns (Pohlen et al. 2018)."""
    return torch.sign(x) * (torch.sqrt(x.abs() + 1) - 1) + eps * x


def value_inverse(y: Tensor, eps: float = EPS) -> Tensor:
    """h^-1(y), the closed form of the inverse of ``value_transform``."""
    root = (torch.sqrt(1 + 4 * eps * (y.abs() + 1 + eps)) - 1) / (2 * eps)
    return torch.sign(y) * (root**2 - 1)


def support(size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The integer support -size .. size [2 * size + 1]."""
    return torch.arange(-size, size + 1, dtype=dtype)


def to_two_hot(y: Tensor, size: int) -> Tensor:
    """Two-hot vectors [..., 2 * size + 1] whose expectation on the support is y (clipped to it)."""
    y = y.clamp(-size, size)
    low = torch.floor(y)
    upper_weight = y - low  # in [0, 1)
    index = (low + size).long()
    out = torch.zeros((*y.shape, 2 * size + 1), dtype=y.dtype, device=y.device)
    out.scatter_(-1, index.unsqueeze(-1), (1 - upper_weight).unsqueeze(-1))
    upper = (index + 1).clamp(max=2 * size)
    # At the top of the support the upper weight is 0, so adding it to the same bin is harmless.
    out.scatter_add_(-1, upper.unsqueeze(-1), upper_weight.unsqueeze(-1))
    return out


def from_logits(logits: Tensor, eps: float = EPS, transformed: bool = True) -> Tensor:
    """The scalar [...] a categorical prediction [..., 2S + 1] stands for: h^-1(E[support]),
    or E[support] itself when the support holds untransformed values."""
    size = (logits.shape[-1] - 1) // 2
    expected = (logits.softmax(-1) * support(size, logits.dtype).to(logits.device)).sum(-1)
    return value_inverse(expected, eps) if transformed else expected
