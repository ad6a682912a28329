"""``SimulatorModel``: the simulator-based paradigm, (s', o') = SIM(s, a), behind the WorldModel contract.

Nothing is learned: the model saves and restores a real simulator's full state, so every planner can
run on the true dynamics, the reference every learned model is compared with. ``State.z`` is that
full state as float64 [B, D] (a MuJoCo integration state, a classic-control env's ``state``, a maze's
cell and clock); ``State.extras["done"]`` [B] marks candidates whose episode has terminated.

Two backends step B candidates:

- ``"batched"``: vectorised over B (numpy for classic control and the mazes, MuJoCo's own batched
  simulator on 2 threads), equal to stepping the real env;
- ``"loop"``: one private env; for each candidate restore its state, step, read the state back. The
  baseline, and the fallback for any env that has a state adapter.

``"auto"`` picks batched where available. Truncation (time limits) is not part of the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from dreamlab.envs import make_env
from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.protocols import WorldModel
from dreamlab.sim.adapters import find_adapter, find_batched
from dreamlab.sim.base import BatchedSim, StateAdapter
from dreamlab.types import State, StepOut

__all__ = ["BACKENDS", "Backend", "SimulatorModel"]

Backend = Literal["auto", "batched", "loop"]
BACKENDS: tuple[str, ...] = ("auto", "batched", "loop")


def _env_name(env: gymnasium.Env) -> str:
    spec = getattr(env.unwrapped, "spec", None) or getattr(env, "spec", None)
    return spec.id if spec is not None else type(env.unwrapped).__name__


def _no_adapter(name: str) -> DreamlabError:
    return DreamlabError(
        f"environment '{name}' has no state adapter: its state cannot be saved and restored, so it "
        "cannot be simulated (add one to dreamlab.sim.STATE_ADAPTERS or give the env "
        "get_state/set_state methods)"
    )


class SimulatorModel(WorldModel):
    """A WorldModel that queries a real simulator: exact next states, rewards and terminations.

    Build it with ``SimulatorModel.for_env(name, backend)``. Start planning from ``capture(env)``
    (the exact state of a real env of the same kind); ``initial(obs)`` works only where the
    observation determines the state exactly (the mazes that never change).

    Actions are [B] int for discrete action spaces and [B, A] for continuous ones; continuous
    actions are cast to the action space's dtype (float32), as a real env receives them from its
    action space. ``step`` returns reward [B] and cont [B] in float64, the simulator's precision.
    """

    def __init__(
        self,
        env: gymnasium.Env,
        sim: BatchedSim | None = None,
        *,
        name: str | None = None,
        make_render_env: Callable[[], gymnasium.Env] | None = None,
    ) -> None:
        """Simulate with ``env`` (the model's own env, never a real one in use) and, if given, ``sim``.

        ``sim=None`` is the loop backend. ``make_render_env`` builds an env with
        ``render_mode="rgb_array"`` for ``decode``.
        """
        self.name = name or _env_name(env)
        adapter = find_adapter(env)
        if adapter is None:
            raise _no_adapter(self.name)
        self.env = env
        self.adapter: StateAdapter = adapter
        self.sim = sim
        self._obs_sim = sim
        self._make_render_env = make_render_env
        self._render_env: gymnasium.Env | None = None
        env.reset(seed=0)  # every env has a state after its first reset
        self.state_dim = len(adapter.get_state(env.unwrapped))
        self.action_space = env.action_space
        if not isinstance(self.action_space, spaces.Discrete | spaces.Box):
            raise DreamlabError(
                f"environment '{self.name}' has a {type(self.action_space).__name__} action space; "
                "SimulatorModel supports Discrete and Box"
            )

    @classmethod
    def for_env(cls, name: str, backend: Backend = "auto", **env_kwargs: Any) -> SimulatorModel:
        """The simulator of ``make_env(name, **env_kwargs)`` with the given backend.

        "batched" raises where no batched simulator exists; "auto" then falls back to "loop". An env
        whose state cannot be saved and restored raises a DreamlabError.
        """
        if backend not in BACKENDS:
            raise unknown_choice("simulator backend", backend, BACKENDS)
        env = make_env(name, **env_kwargs)
        if find_adapter(env) is None:
            env.close()
            raise _no_adapter(name)
        sim = None if backend == "loop" else find_batched(env)
        if sim is None and backend == "batched":
            env.close()
            raise DreamlabError(
                f"environment '{name}' has no batched simulator; use backend='loop' or 'auto'"
            )
        render_kwargs = {**env_kwargs, "render_mode": "rgb_array"}
        return cls(env, sim, name=name, make_render_env=lambda: make_env(name, **render_kwargs))

    @property
    def backend(self) -> str:
        """ "batched" or "loop"."""
        return "loop" if self.sim is None else "batched"

    # ---- real envs in, real envs out ----

    def _check_env(self, env: gymnasium.Env) -> None:
        if type(env.unwrapped) is not type(self.env.unwrapped):
            raise DreamlabError(
                f"this SimulatorModel simulates '{self.name}' ({type(self.env.unwrapped).__name__}), "
                f"not a {type(env.unwrapped).__name__}"
            )

    def capture(self, env: gymnasium.Env) -> State:
        """The exact current state of a real env of this kind, as a State of B = 1 (env untouched)."""
        self._check_env(env)
        z = self.adapter.get_state(env.unwrapped)
        if z.shape != (self.state_dim,):
            raise DreamlabError(
                f"the state of this '{self.name}' env has {z.size} numbers, the model's has "
                f"{self.state_dim}: it was built with other options"
            )
        return State(
            z=torch.from_numpy(z.copy()).reshape(1, -1),  # [1, D]
            extras={"done": torch.zeros(1, dtype=torch.bool)},
        )

    def restore(self, env: gymnasium.Env, state: State) -> None:
        """Put a real env of this kind into a state of B = 1 (the inverse of ``capture``)."""
        self._check_env(env)
        if state.batch_size != 1:
            raise ValueError(f"restore needs a state of one world, got B = {state.batch_size}")
        self.adapter.set_state(env.unwrapped, self._z(state)[0])

    # ---- the WorldModel contract ----

    def initial(self, obs: Tensor) -> State:
        """The state of observations [B, ...], only where they determine it exactly."""
        if self.adapter.from_obs is None:
            raise DreamlabError(
                f"the observation of '{self.name}' does not determine its simulator state exactly; "
                "start from SimulatorModel.capture(env) instead of initial(obs)"
            )
        z = self.adapter.from_obs(self.env.unwrapped, np.asarray(torch.as_tensor(obs).cpu()))
        b = len(z)
        return State(z=torch.from_numpy(z), extras={"done": torch.zeros(b, dtype=torch.bool)})

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """One step of B candidates: the true next states, rewards [B] and cont = 1 - terminated [B].

        A candidate that has terminated stays where it is, with reward 0 and cont 0.
        """
        z = self._z(state)
        b = len(z)
        done_t = state.extras.get("done")
        done = np.zeros(b, dtype=bool) if done_t is None else done_t.cpu().numpy().astype(bool)
        a = self._actions(action, b)
        if not done.any():
            z_next, reward, terminated = self._step_np(z, a)
        else:
            # Only the live candidates are simulated; the others keep their state.
            live = np.flatnonzero(~done)
            z_next, reward, terminated = z.copy(), np.zeros(b), np.zeros(b, dtype=bool)
            if live.size:
                z_next[live], reward[live], terminated[live] = self._step_np(z[live], a[live])
        done_next = done | terminated
        device = state.z.device
        return (
            State(
                z=torch.from_numpy(z_next).to(device),
                extras={"done": torch.from_numpy(done_next).to(device)},
            ),
            StepOut(
                reward=torch.from_numpy(reward.astype(np.float64)).to(device),
                cont=torch.from_numpy(1.0 - done_next.astype(np.float64)).to(device),
            ),
        )

    def observation(self, state: State) -> Tensor:
        """The env's observation of each state [B, ...] (classic control, mazes, supported MuJoCo)."""
        if self._obs_sim is None:
            self._obs_sim = find_batched(self.env)
            if self._obs_sim is None:
                raise DreamlabError(
                    f"SimulatorModel cannot compute the observation of '{self.name}'"
                )
        return torch.from_numpy(np.asarray(self._obs_sim.observation(self._z(state))))

    def decode(self, state: State) -> Tensor:
        """Render each state: uint8 [B, Hh, W, 3] (restores every state into a rendering env)."""
        if self._render_env is None:
            if self._make_render_env is None:
                raise DreamlabError(
                    f"SimulatorModel of '{self.name}' has no rendering env; build it with for_env"
                )
            self._render_env = self._make_render_env()
            self._render_env.reset(seed=0)
        env = self._render_env
        frames = []
        for z in self._z(state):
            self.adapter.set_state(env.unwrapped, z)
            frames.append(np.asarray(env.render(), dtype=np.uint8))
        return torch.from_numpy(np.stack(frames))  # [B, Hh, W, 3]

    def close(self) -> None:
        """Close the model's own envs."""
        self.env.close()
        if self._render_env is not None:
            self._render_env.close()

    # ---- helpers ----

    def _z(self, state: State) -> np.ndarray:
        z = state.z.detach().cpu().to(torch.float64).numpy()
        if z.ndim != 2 or z.shape[1] != self.state_dim:
            raise ValueError(
                f"SimulatorModel of '{self.name}' needs State.z [B, {self.state_dim}], got "
                f"{tuple(state.z.shape)}"
            )
        return z

    def _actions(self, action: Tensor, b: int) -> np.ndarray:
        a = torch.as_tensor(action).detach().cpu().numpy()
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            if a.shape != (b,):
                raise ValueError(f"'{self.name}' needs discrete actions [B] = [{b}], got {a.shape}")
            a = a.astype(np.int64)
            if ((a < space.start) | (a >= space.start + space.n)).any():
                raise ValueError(f"'{self.name}' actions must lie in {space}, got {a}")
            return a
        assert isinstance(space, spaces.Box)
        dim = int(np.prod(space.shape))
        if a.shape != (b, dim):
            raise ValueError(f"'{self.name}' needs actions [B, A] = [{b}, {dim}], got {a.shape}")
        return a.astype(space.dtype)

    def _step_np(self, z: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.sim is not None:
            return self.sim.step(z, a)
        # The loop backend: restore, step, read back, one candidate at a time.
        env = self.env.unwrapped
        shape = self.action_space.shape
        z_next = np.empty_like(z)
        reward = np.empty(len(z))
        terminated = np.empty(len(z), dtype=bool)
        for i in range(len(z)):
            self.adapter.set_state(env, z[i])
            act = int(a[i]) if a.ndim == 1 else a[i].reshape(shape).copy()
            _, r, term, _, _ = env.step(act)
            z_next[i] = self.adapter.get_state(env)
            reward[i], terminated[i] = float(r), bool(term)
        return z_next, reward, terminated

    def __repr__(self) -> str:
        return f"SimulatorModel('{self.name}', backend='{self.backend}', D={self.state_dim})"
