"""Frozen-feature probes: how much of a label a representation makes easy to read out.

A probe is trained on features of a training split and scored (accuracy) on a test split; the
encoder is never updated. ``linear_probe`` reads pooled features [N, D] with a logistic
regression, ``attentive_probe`` reads tokens [N, P, D] through one learned cross-attention query,
and ``feature_std`` flags a collapsed encoder (every input mapped to the same features).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["attentive_probe", "feature_std", "linear_probe"]


def feature_std(features: Tensor) -> float:
    """Mean over dimensions of the per-dimension standard deviation of features [N, D] across
    the N inputs: ~0 for a collapsed encoder."""
    return float(features.float().std(dim=0, unbiased=False).mean())


def _standardise(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor]:
    """Zero mean, unit variance per feature (the last axis) with the training split's statistics."""
    dims = tuple(range(train.dim() - 1))
    mean = train.mean(dim=dims, keepdim=True)
    std = train.std(dim=dims, keepdim=True, unbiased=False).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def _fit(
    params: list[Tensor],
    logits_of: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch: int | None,
    gen: torch.Generator,
) -> None:
    """Adam on the cross-entropy of ``logits_of(x)``: full batch, or shuffled minibatches."""
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    n = len(x)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen) if batch else torch.arange(n)
        for start in range(0, n, batch or n):
            idx = order[start : start + (batch or n)]
            loss = F.cross_entropy(logits_of(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def _accuracy(logits: Tensor, y: Tensor) -> float:
    return float((logits.argmax(dim=-1) == y).float().mean())


def _classes(*labels: Tensor) -> int:
    return int(max(int(y.max()) for y in labels)) + 1


def linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    epochs: int = 300,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    batch: int | None = None,
    seed: int = 0,
) -> float:
    """Test accuracy of a logistic regression on frozen features.

    train_x [N, D], train_y int [N], test_x [M, D], test_y int [M]. Features are standardised
    with the training split's mean and std; the weights start at zero and are fitted by Adam,
    full batch (``batch=None``) or on minibatches shuffled from ``seed``, so a call is
    deterministic.
    """
    with torch.enable_grad():
        xtr, xte = _standardise(train_x.detach().float(), test_x.detach().float())
        k = _classes(train_y, test_y)
        w = torch.zeros(xtr.shape[1], k, requires_grad=True)
        b = torch.zeros(k, requires_grad=True)
        gen = torch.Generator().manual_seed(seed)
        _fit([w, b], lambda x: x @ w + b, xtr, train_y.long(), epochs, lr, weight_decay, batch, gen)
    with torch.no_grad():
        return _accuracy(xte @ w + b, test_y.long())


def attentive_probe(
    train_tokens: Tensor,
    train_y: Tensor,
    test_tokens: Tensor,
    test_y: Tensor,
    heads: int = 4,
    epochs: int = 100,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    batch: int | None = 512,
    seed: int = 0,
) -> float:
    """Test accuracy of one learned query cross-attending over frozen tokens, then a linear map.

    train_tokens [N, P, D], train_y int [N], test_tokens [M, P, D], test_y int [M]. Tokens are
    standardised per feature with the training split's statistics. Each head h scores the tokens
    by a learned vector u_h [D] and pools them with softmax weights; the pooled vectors of all
    heads [heads * D] go through a linear classifier. This is multi-head attention with a single
    learned query whose key and value projections are folded in: the score
    q W_q (t W_k)^T / sqrt(d) is t . u with u = W_k W_q^T q / sqrt(d), the key bias is constant over
    tokens so the softmax drops it, and the value and output projections are linear after
    pooling, so the classifier absorbs them. Folding them spares projecting N x P tokens on every
    step, which is what keeps the probe fast on a CPU.
    """
    with torch.enable_grad():
        xtr, xte = _standardise(train_tokens.detach().float(), test_tokens.detach().float())
        d = xtr.shape[-1]
        k = _classes(train_y, test_y)
        gen = torch.Generator().manual_seed(seed)
        u = (torch.randn(heads, d, generator=gen) * 0.02).requires_grad_()
        w = (torch.randn(heads * d, k, generator=gen) / math.sqrt(heads * d)).requires_grad_()
        b = torch.zeros(k, requires_grad=True)

        def logits_of(x: Tensor) -> Tensor:
            attn = torch.softmax(torch.einsum("npd,hd->nhp", x, u), dim=-1)  # [N, heads, P]
            pooled = torch.einsum("nhp,npd->nhd", attn, x)  # [N, heads, D]
            return pooled.flatten(1) @ w + b

        _fit([u, w, b], logits_of, xtr, train_y.long(), epochs, lr, weight_decay, batch, gen)
        with torch.no_grad():
            return _accuracy(logits_of(xte), test_y.long())
