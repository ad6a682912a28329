"""Seeding and RNG state capture, so a resumed run draws the same numbers as an uninterrupted one.

Numpy and Python states become JSON-able dicts/lists (stored in a checkpoint's JSON meta); the torch
state is a uint8 tensor (stored among a checkpoint's tensors).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from dreamlab.errors import DreamlabError

__all__ = [
    "numpy_rng_state",
    "python_rng_state",
    "restore_numpy_rng",
    "restore_python_rng",
    "restore_torch_rng",
    "seed_everything",
    "torch_rng_state",
]

# Bit generators a state may name; a fixed table, so a state from a file never picks an arbitrary attribute.
_BIT_GENERATORS: dict[str, type[np.random.BitGenerator]] = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's ``random``, numpy's global RNG and torch; return a fresh ``Generator(seed)``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # the legacy global RNG accepts only 32-bit seeds
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _jsonable(value: Any) -> Any:
    """Nested dicts with numpy arrays/scalars -> plain lists and ints (MT19937 keeps its key as an array)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value


def numpy_rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The state of a numpy ``Generator`` as a JSON-able dict (PCG64's 128-bit ints stay Python ints)."""
    state: dict[str, Any] = _jsonable(rng.bit_generator.state)
    return state


def restore_numpy_rng(state: dict[str, Any]) -> np.random.Generator:
    """A ``Generator`` that continues exactly where the one given to :func:`numpy_rng_state` was."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if not isinstance(name, str) or name not in _BIT_GENERATORS:
        raise DreamlabError(f"numpy RNG state names an unknown bit generator {name!r}")
    bit_generator = _BIT_GENERATORS[name]()
    restored = dict(state)
    if name == "MT19937":
        inner = dict(restored["state"])
        inner["key"] = np.asarray(inner["key"], dtype=np.uint32)
        restored["state"] = inner
    try:
        bit_generator.state = restored
    except (TypeError, ValueError, KeyError) as exc:
        raise DreamlabError(f"invalid numpy RNG state for {name}: {exc}") from None
    return np.random.Generator(bit_generator)


def torch_rng_state() -> torch.Tensor:
    """Torch's global CPU RNG state as a uint8 tensor (save it among a checkpoint's tensors)."""
    return torch.get_rng_state().clone()


def restore_torch_rng(state: torch.Tensor) -> None:
    """Set torch's global CPU RNG from a tensor made by :func:`torch_rng_state`."""
    torch.set_rng_state(state.to(dtype=torch.uint8, device="cpu").contiguous())


def python_rng_state(rng: random.Random) -> list[Any]:
    """The state of a ``random.Random`` as a JSON-able list ``[version, [625 ints], gauss_next]``."""
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def restore_python_rng(state: list[Any]) -> random.Random:
    """A ``random.Random`` that continues exactly where the one given to :func:`python_rng_state` was."""
    rng = random.Random()
    try:
        version, internal, gauss_next = state
        rng.setstate((int(version), tuple(int(x) for x in internal), gauss_next))
    except (TypeError, ValueError) as exc:
        raise DreamlabError(f"invalid Python RNG state: {exc}") from None
    return rng
