"""The cross-entropy method (CEM) with the improvements of iCEM (Pinneri et al., 2020).

Each iteration samples candidate action sequences from a Gaussian per environment, imagines them,
and refits the Gaussian to the ``elites`` lowest-cost candidates, smoothed by ``momentum``. From
iCEM: temporally correlated ("colored") noise, elites kept into the next population, and the mean
itself evaluated as a candidate; the best candidate ever evaluated is returned.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlab.errors import DreamlabError
from dreamlab.planners.common import (
    ActionSpec,
    PlanResult,
    check_common,
    colored_noise,
    evaluate,
    finite_costs,
    gather_candidates,
    keep_best,
    search_start,
)
from dreamlab.planners.objectives import Objective
from dreamlab.protocols import WorldModel
from dreamlab.types import State

__all__ = ["cem"]


@torch.inference_mode()
def cem(
    model: WorldModel,
    state: State,
    objective: Objective,
    horizon: int,
    spec: ActionSpec,
    *,
    samples: int = 500,
    elites: int = 50,
    iterations: int = 10,
    momentum: float = 0.1,
    init_mean: Tensor | None = None,
    init_std: Tensor | float | None = None,
    min_std: float = 0.05,
    noise_beta: float = 0.0,
    keep_elites: int = 0,
    generator: torch.Generator | None = None,
) -> PlanResult:
    """Plan [B, H, A] for every environment of ``state`` with CEM.

    ``samples`` candidates per iteration (including the current mean and ``keep_elites`` of the
    previous iteration's elites), refit to the best ``elites``. The new mean and std are
    ``momentum * old + (1 - momentum) * elite statistic``; the std never falls below
    ``min_std * (high - low)``. ``init_mean`` / ``init_std`` warm-start the search (MPC passes the
    previous plan shifted); the default is the midpoint of the bounds and a quarter of their range.
    ``noise_beta`` colours the sampling noise over the horizon (0 white, 1 pink, 2 red).
    """
    check_common(horizon, spec, state, samples=samples, elites=elites, iterations=iterations)
    if elites > samples:
        raise DreamlabError(f"cem needs elites <= samples, got elites={elites}, samples={samples}")
    if not 0 <= keep_elites <= elites or keep_elites >= samples:
        raise DreamlabError(
            f"cem needs 0 <= keep_elites <= elites and < samples, got keep_elites={keep_elites}"
        )
    device = state.z.device
    spec = spec.to(device)
    b, a = state.batch_size, spec.dim
    search = search_start("cem", state, horizon, spec, init_mean, init_std, min_std, momentum)
    mean, std = search.mean, search.std
    kept: Tensor | None = None  # [B, keep, H, A]
    per_iteration = []
    for _ in range(iterations):
        fixed = [spec.clip(mean).unsqueeze(1)] + ([kept] if kept is not None else [])
        n_new = samples - sum(int(f.shape[1]) for f in fixed)
        noise = colored_noise(noise_beta, (b, n_new), horizon, a, generator, device)
        sampled = spec.clip(mean.unsqueeze(1) + std.unsqueeze(1) * noise)  # [B, n_new, H, A]
        candidates = torch.cat([*fixed, sampled], dim=1)[:, :samples]  # [B, N, H, A]
        cost = finite_costs(evaluate(model, state, candidates, objective))  # [B, N]
        elite_cost, elite_idx = torch.topk(cost, elites, dim=1, largest=False)  # [B, E], sorted
        elite = gather_candidates(candidates, elite_idx)  # [B, E, H, A]
        keep_best(search, elite[:, 0], elite_cost[:, 0])
        per_iteration.append(elite_cost[:, 0])
        mean = momentum * mean + (1 - momentum) * elite.mean(dim=1)
        std = momentum * std + (1 - momentum) * elite.std(dim=1, unbiased=False)
        std = torch.maximum(std, search.floor)
        kept = elite[:, :keep_elites] if keep_elites else None
    return PlanResult(
        actions=search.best_actions,
        cost=search.best_cost,
        mean=mean,
        std=std,
        costs_per_iteration=torch.stack(per_iteration),
    )
