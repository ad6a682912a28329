"""Modules and optimizers as flat tensor dicts plus JSON, the shape a checkpoint stores.

``checkpoint_state(modules, optimizers)`` gives ``(tensors, meta)`` for ``save_checkpoint``;
``restore_state`` loads them back into freshly built objects, so a resumed run continues with the
same weights, the same Adam moments and the same step counts.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["checkpoint_state", "restore_state"]


def checkpoint_state(
    modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors ``"<module>.<param>"`` and ``"<optimizer>.<index>.<slot>"``; meta holds param groups."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value
    meta: dict[str, Any] = {}
    for name, opt in (optimizers or {}).items():
        state = opt.state_dict()
        for index, slots in state["state"].items():
            for slot, value in slots.items():
                tensors[f"{name}.{index}.{slot}"] = torch.as_tensor(value)
        meta[name] = state["param_groups"]
    return tensors, meta


def restore_state(
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
) -> None:
    """Load what ``checkpoint_state`` saved into ``modules`` and ``optimizers`` (strict: every key)."""
    for name, module in modules.items():
        prefix = f"{name}."
        module.load_state_dict(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, strict=True
        )
    for name, opt in (optimizers or {}).items():
        state: dict[int, dict[str, torch.Tensor]] = {}
        prefix = f"{name}."
        for key, value in tensors.items():
            if key.startswith(prefix) and key.count(".") == 2 and key.split(".")[1].isdigit():
                _, index, slot = key.split(".")
                state.setdefault(int(index), {})[slot] = value
        opt.load_state_dict({"state": state, "param_groups": meta[name]})
