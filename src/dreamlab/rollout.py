"""``rollout``: imagine H steps inside any WorldModel, with a fixed action sequence or a policy."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dreamlab.protocols import WorldModel
from dreamlab.types import State, StepOut, Trajectory

__all__ = ["Policy", "rollout"]

Policy = Callable[[State, int], Tensor]
"""A policy for imagination: (state [B, ...], step index t) -> action a_t [B] or [B, A]."""


def rollout(
    model: WorldModel, state: State, actions_or_policy: Tensor | Policy, horizon: int | None = None
) -> Trajectory:
    """Roll ``model`` forward from ``state`` for ``horizon`` steps.

    ``actions_or_policy`` is either a tensor of actions a_0 .. a_{H-1} ([B, H] discrete or
    [B, H, A] continuous; ``horizon`` defaults to H) or a policy called once per step. Returns the
    stacked states s_0 .. s_H, the actions, rewards r_1 .. r_H and continuation probabilities.
    """
    b = state.batch_size
    if isinstance(actions_or_policy, Tensor):
        actions = actions_or_policy
        if actions.dim() < 2 or actions.shape[0] != b:
            raise ValueError(
                f"rollout needs actions [B, H] or [B, H, A] with B = {b}, got {tuple(actions.shape)}"
            )
        horizon = actions.shape[1] if horizon is None else horizon
        if horizon > actions.shape[1]:
            raise ValueError(
                f"rollout horizon {horizon} exceeds the {actions.shape[1]} actions given"
            )
        policy: Policy = lambda _s, t: actions[:, t]  # noqa: E731
    else:
        if horizon is None:
            raise ValueError("rollout with a policy needs a horizon")
        policy = actions_or_policy
    if horizon < 1:
        raise ValueError(f"rollout horizon must be at least 1, got {horizon}")

    states = [state]
    taken: list[Tensor] = []
    outs: list[StepOut] = []
    for t in range(horizon):
        action = policy(state, t)
        state, out = model.step(state, action)
        if out.reward.shape != (b,):
            raise ValueError(
                f"{type(model).__name__}.step returned reward {tuple(out.reward.shape)}, expected [{b}]"
            )
        states.append(state)
        taken.append(action)
        outs.append(out)
    extras = {k: torch.stack([o.extras[k] for o in outs], dim=1) for k in outs[0].extras}
    return Trajectory(
        states=State.stack(states),
        actions=torch.stack(taken, dim=1),
        reward=torch.stack([o.reward for o in outs], dim=1),
        cont=torch.stack([o.cont for o in outs], dim=1),
        extras=extras,
    )
