"""What every planner shares: the action bounds, the result, batched evaluation and colored noise.

Planners search over action sequences [B, N, H, A]: N candidates for each of B environments. They
fold the candidates into the batch (B * N, the layout of ``State.repeat``), imagine them with
``rollout`` in any WorldModel and score them with an objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dreamlab.errors import DreamlabError
from dreamlab.planners.objectives import Objective
from dreamlab.protocols import WorldModel
from dreamlab.rollout import rollout
from dreamlab.types import State

__all__ = ["ActionSpec", "PlanResult", "Planner", "colored_noise", "evaluate"]


@dataclass(frozen=True)
class ActionSpec:
    """Bounds of a continuous action space: ``low`` [A] and ``high`` [A], finite, low <= high."""

    low: Tensor  # [A]
    high: Tensor  # [A]

    def __post_init__(self) -> None:
        if self.low.dim() != 1 or self.low.shape != self.high.shape:
            raise DreamlabError(
                f"ActionSpec needs low and high of shape [A], got {tuple(self.low.shape)} and "
                f"{tuple(self.high.shape)}"
            )
        if not bool(torch.isfinite(self.low).all() and torch.isfinite(self.high).all()):
            raise DreamlabError("ActionSpec needs finite bounds: planners sample inside them")
        if bool((self.low > self.high).any()):
            raise DreamlabError("ActionSpec has a lower bound above its upper bound")

    @staticmethod
    def from_space(space: Any) -> ActionSpec:
        """The spec of a gymnasium ``Box`` action space (a 1-D, bounded one)."""
        import gymnasium

        if not isinstance(space, gymnasium.spaces.Box) or len(space.shape) != 1:
            raise DreamlabError(f"planners need a 1-D continuous (Box) action space, got {space}")
        return ActionSpec(
            low=torch.as_tensor(np.asarray(space.low), dtype=torch.float32),
            high=torch.as_tensor(np.asarray(space.high), dtype=torch.float32),
        )

    @staticmethod
    def box(low: float, high: float, dim: int) -> ActionSpec:
        """The same bounds [low, high] on each of ``dim`` action dimensions."""
        return ActionSpec(low=torch.full((dim,), float(low)), high=torch.full((dim,), float(high)))

    @property
    def dim(self) -> int:
        """A, the action dimension."""
        return int(self.low.shape[0])

    @property
    def midpoint(self) -> Tensor:
        """(low + high) / 2 [A]: the neutral action that pads a shifted plan."""
        return (self.low + self.high) / 2

    @property
    def range(self) -> Tensor:
        """high - low [A]: the scale of the default spread and of ``min_std``."""
        return self.high - self.low

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> ActionSpec:
        """The same bounds on another device (and dtype)."""
        return ActionSpec(
            low=self.low.to(device=device, dtype=dtype),
            high=self.high.to(device=device, dtype=dtype),
        )

    def clip(self, actions: Tensor) -> Tensor:
        """Clamp actions [..., A] into the bounds."""
        low = self.low.to(actions.device, actions.dtype)
        high = self.high.to(actions.device, actions.dtype)
        return torch.maximum(torch.minimum(actions, high), low)

    def sample_uniform(
        self, shape: tuple[int, ...], generator: torch.Generator | None = None
    ) -> Tensor:
        """Actions [*shape, A] drawn uniformly inside the bounds."""
        device = self.low.device if generator is None else generator.device
        u = torch.rand((*shape, self.dim), generator=generator, device=device)
        return self.low + self.range * u.to(self.low.device)


@dataclass(frozen=True)
class PlanResult:
    """What a planner returns for B environments.

    ``actions`` [B, H, A] is the plan to execute and ``cost`` [B] its cost under the objective.
    ``mean`` and ``std`` [B, H, A] describe the search distribution at the end (CEM, MPPI), which
    the next plan starts from once shifted; they are None where a planner has no distribution.
    ``costs_per_iteration`` [iterations, B] holds the lowest cost evaluated in each iteration.
    """

    actions: Tensor  # [B, H, A]
    cost: Tensor  # [B]
    mean: Tensor | None  # [B, H, A]
    std: Tensor | None  # [B, H, A]
    costs_per_iteration: Tensor  # [iterations, B]


Planner = Callable[..., PlanResult]
"""``planner(model, state, objective, horizon, spec, *, init_mean=None, ...) -> PlanResult``."""


def evaluate(model: WorldModel, state: State, actions: Tensor, objective: Objective) -> Tensor:
    """Cost [B, N] of N candidate action sequences [B, N, H, A] for each of B environments.

    Candidates are folded into the batch as B * N rows (environment b's at b*N .. b*N+N-1) and
    imagined with ``rollout``. Runs in the caller's grad mode, so gradient planners can use it too.
    """
    if actions.dim() != 4 or actions.shape[0] != state.batch_size:
        raise ValueError(
            f"evaluate needs actions [B, N, H, A] with B = {state.batch_size}, "
            f"got {tuple(actions.shape)}"
        )
    b, n, h, a = actions.shape
    trajectory = rollout(model, state.repeat(n), actions.reshape(b * n, h, a), h)  # [B * N, H, A]
    cost = objective(trajectory)
    if cost.shape != (b * n,):
        raise ValueError(f"the objective returned shape {tuple(cost.shape)}, expected [{b * n}]")
    return cost.reshape(b, n)  # [B, N]


def colored_noise(
    beta: float,
    shape: tuple[int, ...],
    horizon: int,
    dim: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Standard Gaussian noise [*shape, H, A] whose power spectrum over time follows 1 / f^beta.

    ``beta = 0`` is white noise, 1 pink, 2 red (Brownian-like): larger beta makes consecutive
    actions more alike, which explores further in a fixed number of steps (iCEM, Pinneri et al.
    2020). Made by scaling random Fourier coefficients and transforming back along the horizon;
    each value has unit variance in expectation.
    """
    gen_device = device if generator is None else generator.device
    if beta == 0.0 or horizon == 1:
        noise = torch.randn((*shape, dim, horizon), generator=generator, device=gen_device)
    else:
        freqs = torch.fft.rfftfreq(horizon, device=gen_device)  # [F]
        # The zero frequency gets the amplitude of the lowest non-zero one (as powerlaw_psd_gaussian).
        freqs[0] = 1.0 / horizon
        scale = freqs ** (-beta / 2.0)  # [F]
        # Exact standard deviation of each output value, to normalise to unit variance: a real
        # coefficient (DC, and Nyquist for even H) adds 2 s^2 / H^2, a complex pair 4 s^2 / H^2.
        weight = torch.full_like(scale, 4.0)
        weight[0] = 2.0
        if horizon % 2 == 0:
            weight[-1] = 2.0
        sigma = math.sqrt(float((weight * scale**2).sum())) / horizon
        size = (*shape, dim, freqs.shape[0])
        real = torch.randn(size, generator=generator, device=gen_device) * scale
        imag = torch.randn(size, generator=generator, device=gen_device) * scale
        # The DC (and, for even H, the Nyquist) coefficient is real: fold its power into the real part.
        imag[..., 0] = 0.0
        real[..., 0] *= math.sqrt(2.0)
        if horizon % 2 == 0:
            imag[..., -1] = 0.0
            real[..., -1] *= math.sqrt(2.0)
        noise = torch.fft.irfft(torch.complex(real, imag), n=horizon) / sigma  # [*shape, A, H]
    return noise.transpose(-1, -2).to(device)  # [*shape, H, A]


def check_common(horizon: int, spec: ActionSpec, state: State, **positive: int) -> None:
    """Raise a clear error for a bad horizon or a non-positive count option."""
    if horizon < 1:
        raise DreamlabError(f"planning horizon must be at least 1, got {horizon}")
    for name, value in positive.items():
        if value < 1:
            raise DreamlabError(f"planner option {name} must be at least 1, got {value}")
    if state.batch_size < 1:
        raise DreamlabError("planning needs a state with at least one environment")
    if spec.dim < 1:
        raise DreamlabError("planning needs at least one action dimension")


def initial_mean(
    init_mean: Tensor | None, b: int, horizon: int, spec: ActionSpec, device: torch.device
) -> Tensor:
    """The starting mean [B, H, A]: ``init_mean`` ([B, H, A] or [H, A]) or the spec's midpoint."""
    if init_mean is None:
        return spec.midpoint.to(device).expand(b, horizon, spec.dim).clone()
    return _plan_shaped("init_mean", init_mean, b, horizon, spec, device)


def initial_std(
    init_std: Tensor | float | None, b: int, horizon: int, spec: ActionSpec, device: torch.device
) -> Tensor:
    """The starting std [B, H, A]: ``init_std`` (a tensor or a number) or a quarter of the range."""
    if init_std is None:
        return (spec.range.to(device) / 4).expand(b, horizon, spec.dim).clone()
    if isinstance(init_std, (int, float)):
        return torch.full((b, horizon, spec.dim), float(init_std), device=device)
    return _plan_shaped("init_std", init_std, b, horizon, spec, device)


def _plan_shaped(
    name: str, x: Tensor, b: int, horizon: int, spec: ActionSpec, device: torch.device
) -> Tensor:
    x = torch.as_tensor(x, dtype=torch.float32, device=device)
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(b, -1, -1)  # [H, A] -> [B, H, A]
    if tuple(x.shape) != (b, horizon, spec.dim):
        raise DreamlabError(
            f"{name} must be [B, H, A] = [{b}, {horizon}, {spec.dim}] or [H, A], "
            f"got {tuple(x.shape)}"
        )
    return x.clone()


def finite_costs(cost: Tensor) -> Tensor:
    """Costs with NaN replaced by +inf, so a diverging candidate is never chosen."""
    return torch.nan_to_num(cost, nan=math.inf)


def gather_candidates(candidates: Tensor, idx: Tensor) -> Tensor:
    """Select candidates [B, N, H, A] by per-environment indices idx [B, K] -> [B, K, H, A]."""
    b, _, h, a = candidates.shape
    return torch.gather(candidates, 1, idx[:, :, None, None].expand(b, idx.shape[1], h, a))


@dataclass
class SearchStart:
    """Where a sampling planner starts: distribution mean and std [B, H, A], the std floor [A],
    and the best plan so far [B, H, A] with its cost [B] (none yet: +inf)."""

    mean: Tensor
    std: Tensor
    floor: Tensor
    best_actions: Tensor
    best_cost: Tensor


def search_start(
    name: str,
    state: State,
    horizon: int,
    spec: ActionSpec,
    init_mean: Tensor | None,
    init_std: Tensor | float | None,
    min_std: float,
    momentum: float,
) -> SearchStart:
    """The shared start of CEM and MPPI (``spec`` must already be on the state's device)."""
    if not 0.0 <= momentum < 1.0:
        raise DreamlabError(f"{name} needs momentum in [0, 1), got {momentum}")
    device, b = state.z.device, state.batch_size
    mean = initial_mean(init_mean, b, horizon, spec, device)  # [B, H, A]
    return SearchStart(
        mean=mean,
        std=initial_std(init_std, b, horizon, spec, device),  # [B, H, A]
        floor=min_std * spec.range,  # [A]
        best_actions=mean.clone(),
        best_cost=torch.full((b,), float("inf"), device=device),
    )


def keep_best(start: SearchStart, actions: Tensor, cost: Tensor) -> None:
    """Replace the best plan of each environment by ``actions`` [B, H, A] where ``cost`` [B] is lower."""
    better = cost < start.best_cost
    start.best_actions = torch.where(better[:, None, None], actions, start.best_actions)
    start.best_cost = torch.where(better, cost, start.best_cost)
