"""Exponential moving averages of a network's weights: the slow target encoders of the JEPA
systems (I-JEPA, V-JEPA), with the linear momentum schedule both papers use."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ema_momentum", "ema_update"]


def ema_momentum(step: int, total: int, start: float = 0.996, end: float = 1.0) -> float:
    """Momentum of the target network at update ``step`` of ``total``: linear from ``start``
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
