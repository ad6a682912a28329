"""gymnasium's MuJoCo envs as simulators: the full integration state, stepped for B states on a thread pool.

The state z [B, D] is MuJoCo's ``mjSTATE_INTEGRATION`` vector (``mj_getState``): time, qpos, qvel,
actuator activations, history, the constraint solver's warm start, and the user inputs (ctrl, applied
forces, mocap, ...). The warm start is part of it on purpose: MuJoCo's solver starts from it, and
without it a contact-rich env (HalfCheetah) drifts from the real one by 1e-10 within 30 steps.

A gymnasium step is ``data.ctrl[:] = action`` then ``frame_skip`` calls of ``mj_step``. Two engines
do that for B states at once, both from the mujoco package, both multi-threaded:

- ``mujoco.batch.Batch`` (mujoco >= 3.17): simulations whose rows are exactly the integration state
  vector, warm start included, "bit-identical to a loop over one MjData per simulation". Used when
  available: the result equals the real env to the bit.
- ``mujoco.rollout.Rollout`` (older mujoco): a persistent rollout object with one MjData per thread,
  controls repeated frame_skip times. It takes a warm start in but returns only the full physics state,
  not the warm start after the step, so the next step starts from the previous warm start instead:
  exact for one step from a captured state, then within the solver's tolerance (about 1e-10).

Rewards and termination are recomputed from the state before and after the step and the action, as
each env's ``step`` computes them (InvertedPendulum-v5, HalfCheetah-v5, Hopper-v5, Walker2d-v5). Any
other MuJoCo env still runs on the loop backend through ``MUJOCO_ADAPTER``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import mujoco
import numpy as np
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.inverted_pendulum_v5 import InvertedPendulumEnv
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

from dreamlab.sim.base import BatchedSim, StateAdapter

__all__ = [
    "INTEGRATION",
    "MUJOCO_ADAPTER",
    "MUJOCO_BATCHED",
    "MujocoSim",
    "has_batch_engine",
    "state_layout",
]

INTEGRATION = int(mujoco.mjtState.mjSTATE_INTEGRATION)
"""The state spec of z: everything ``mj_step`` reads."""
_FULLPHYSICS = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
_USER = int(mujoco.mjtState.mjSTATE_USER)
_COMPONENTS = {
    "time": mujoco.mjtState.mjSTATE_TIME,
    "qpos": mujoco.mjtState.mjSTATE_QPOS,
    "qvel": mujoco.mjtState.mjSTATE_QVEL,
    "warmstart": mujoco.mjtState.mjSTATE_WARMSTART,
    "ctrl": mujoco.mjtState.mjSTATE_CTRL,
}

Engine = Literal["batch", "rollout"]
# (env, qpos before [B, nq], qpos after [B, nq], qvel after [B, nv], action float32 [B, A])
#   -> (reward float64 [B], terminated bool [B])
RewardFn = Callable[
    [Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]
]
ObsFn = Callable[[Any, np.ndarray, np.ndarray], np.ndarray]


def has_batch_engine() -> bool:
    """Whether this mujoco has ``mujoco.batch`` (the exact engine)."""
    try:
        import mujoco.batch  # noqa: F401
    except ImportError:
        return False
    return True


def _columns(model: mujoco.MjModel, spec: int, within: int = INTEGRATION) -> np.ndarray:
    """Indices, within a ``within`` state vector, of the components in ``spec``."""
    cols: list[int] = []
    start = 0
    for i in range(int(mujoco.mjtState.mjNSTATE)):
        bit = 1 << i
        if not within & bit:
            continue
        size = mujoco.mj_stateSize(model, bit)
        if spec & bit:
            cols.extend(range(start, start + size))
        start += size
    return np.asarray(cols, dtype=np.int64)


def state_layout(model: mujoco.MjModel) -> dict[str, slice]:
    """Where time, qpos, qvel, warmstart and ctrl sit in the integration state vector z [D]."""
    out = {}
    for name, bit in _COMPONENTS.items():
        cols = _columns(model, int(bit))
        out[name] = slice(int(cols[0]), int(cols[-1]) + 1) if cols.size else slice(0, 0)
    return out


# ---- state adapter (loop backend, capture, restore) ----


def _get_mujoco(env: MujocoEnv) -> np.ndarray:
    z = np.empty(mujoco.mj_stateSize(env.model, INTEGRATION), dtype=np.float64)
    mujoco.mj_getState(env.model, env.data, z, INTEGRATION)
    return z


def _set_mujoco(env: MujocoEnv, z: np.ndarray) -> None:
    mujoco.mj_setState(env.model, env.data, np.ascontiguousarray(z, dtype=np.float64), INTEGRATION)
    # Derived quantities (body positions for rendering, observations that read them) follow the
    # state, as after gymnasium's own set_state; mj_forward leaves the integration state unchanged.
    mujoco.mj_forward(env.model, env.data)


MUJOCO_ADAPTER = StateAdapter(_get_mujoco, _set_mujoco)
"""Any gymnasium MuJoCo env: its mjSTATE_INTEGRATION vector."""


# ---- engines ----


class _BatchEngine:
    """``mujoco.batch.Batch``, grown to the largest B seen; rows are integration states."""

    def __init__(self, model: mujoco.MjModel, frame_skip: int, nthread: int) -> None:
        self.model, self.frame_skip, self.nthread = model, frame_skip, nthread
        self.batch: Any = None

    def step(self, z: np.ndarray) -> np.ndarray:
        from mujoco.batch import Batch

        b = len(z)
        if self.batch is None or self.batch.nsim < b:
            self.batch = Batch(self.model, b, nthread=self.nthread)
        rows = self.batch.state  # [nsim, D], the simulations' live state rows
        rows[:b] = z
        ids = None if b == self.batch.nsim else np.arange(b)
        self.batch.step(ids=ids, nstep=self.frame_skip)
        return np.array(rows[:b])


class _RolloutEngine:
    """``mujoco.rollout.Rollout`` with a persistent thread pool and one MjData per thread."""

    def __init__(self, model: mujoco.MjModel, frame_skip: int, nthread: int) -> None:
        from mujoco import rollout

        self.model, self.frame_skip = model, frame_skip
        self.full = _columns(model, _FULLPHYSICS)
        self.user = _columns(model, _USER)
        self.warm = state_layout(model)["warmstart"]
        threads = nthread if nthread > 1 else 0
        self.rollout = rollout.Rollout(nthread=threads)
        self.datas = [mujoco.MjData(model) for _ in range(max(threads, 1))]

    def step(self, z: np.ndarray) -> np.ndarray:
        # The user inputs (ctrl and friends) are held for all frame_skip substeps.
        control = np.repeat(z[:, None, self.user], self.frame_skip, axis=1)  # [B, frame_skip, U]
        states, _ = self.rollout.rollout(
            self.model,
            self.datas,
            np.ascontiguousarray(z[:, self.full]),
            control,
            control_spec=_USER,
            initial_warmstart=np.ascontiguousarray(z[:, self.warm]),
        )
        z_next = z.copy()
        # rollout returns no warm start: the old one is kept (see the module docstring).
        z_next[:, self.full] = states[:, -1]
        return z_next


class MujocoSim:
    """A gymnasium MuJoCo env stepped for B integration states at once (a BatchedSim).

    ``engine`` is "batch" (exact; needs mujoco.batch) or "rollout"; None picks "batch" when the
    installed mujoco has it. ``nthread`` threads share the candidates.
    """

    def __init__(
        self,
        env: MujocoEnv,
        reward_fn: RewardFn,
        obs_fn: ObsFn,
        nthread: int = 2,
        engine: Engine | None = None,
    ) -> None:
        self.env, self.reward_fn, self.obs_fn = env, reward_fn, obs_fn
        self.layout = state_layout(env.model)
        self.engine: Engine = engine or ("batch" if has_batch_engine() else "rollout")
        make = _BatchEngine if self.engine == "batch" else _RolloutEngine
        self._engine = make(env.model, env.frame_skip, nthread)

    def step(self, z: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z [B, D] integration states, action float32 [B, A] -> next states, reward, terminated."""
        z_in = z.copy()
        z_in[:, self.layout["ctrl"]] = action  # data.ctrl[:] = action (float32 -> float64)
        z_next = self._engine.step(z_in)
        qpos, qvel = z_next[:, self.layout["qpos"]], z_next[:, self.layout["qvel"]]
        reward, terminated = self.reward_fn(self.env, z[:, self.layout["qpos"]], qpos, qvel, action)
        return z_next, reward, terminated

    def observation(self, z: np.ndarray) -> np.ndarray:
        """The env's observation of each state, float64 [B, obs_dim]."""
        return self.obs_fn(self.env, z[:, self.layout["qpos"]], z[:, self.layout["qvel"]])


# ---- rewards, termination and observations of the supported envs (gymnasium v5) ----


def _sum_of_squares(action: np.ndarray) -> np.ndarray:
    """np.sum(np.square(a)) of each row of float32 [B, A], in the order numpy sums a short vector."""
    sq = np.square(action)  # [B, A] float32
    if sq.shape[1] >= 8:
        # numpy sums 8 or more elements pairwise; do exactly that, one row at a time.
        return np.array([np.sum(row) for row in sq], dtype=sq.dtype)
    total = np.zeros(len(sq), dtype=sq.dtype)
    for j in range(sq.shape[1]):
        total = total + sq[:, j]
    return total


def _inverted_pendulum(
    env: InvertedPendulumEnv, qpos0: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, a: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    obs = np.concatenate([qpos, qvel], axis=1)
    terminated = ~np.isfinite(obs).all(axis=1) | (np.abs(obs[:, 1]) > 0.2)
    return (~terminated).astype(np.float64), terminated


def _inverted_pendulum_obs(
    env: InvertedPendulumEnv, qpos: np.ndarray, qvel: np.ndarray
) -> np.ndarray:
    return np.concatenate([qpos, qvel], axis=1)


def _half_cheetah(
    env: HalfCheetahEnv, qpos0: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, a: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x_velocity = (qpos[:, 0] - qpos0[:, 0]) / env.dt
    forward_reward = env._forward_reward_weight * x_velocity
    ctrl_cost = env._ctrl_cost_weight * _sum_of_squares(a)
    return forward_reward - ctrl_cost, np.zeros(len(qpos), dtype=bool)


def _locomotion_obs(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """HalfCheetah's observation: qpos (without x by default) and qvel."""
    position = qpos[:, 1:] if env._exclude_current_positions_from_observation else qpos
    return np.concatenate([position, qvel], axis=1)


def _clipped_velocity_obs(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Hopper's and Walker2d's observation: like HalfCheetah's, with qvel clipped to [-10, 10]."""
    return _locomotion_obs(env, qpos, np.clip(qvel, -10, 10))


def _is_healthy(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Hopper's / Walker2d's is_healthy (Walker2d has no state range)."""
    z, angle = qpos[:, 1], qpos[:, 2]
    min_z, max_z = env._healthy_z_range
    min_angle, max_angle = env._healthy_angle_range
    healthy = (min_z < z) & (z < max_z) & (min_angle < angle) & (angle < max_angle)
    if hasattr(env, "_healthy_state_range"):
        state = np.concatenate([qpos, qvel], axis=1)[:, 2:]
        min_state, max_state = env._healthy_state_range
        healthy &= np.all((min_state < state) & (state < max_state), axis=1)
    return healthy


def _hopper_or_walker(
    env: Any, qpos0: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, a: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x_velocity = (qpos[:, 0] - qpos0[:, 0]) / env.dt
    forward_reward = env._forward_reward_weight * x_velocity
    healthy = _is_healthy(env, qpos, qvel)
    healthy_reward = healthy * env._healthy_reward
    rewards = forward_reward + healthy_reward
    costs = env._ctrl_cost_weight * _sum_of_squares(a)
    terminated = ~healthy & bool(env._terminate_when_unhealthy)
    return rewards - costs, terminated


def _sim(reward_fn: RewardFn, obs_fn: ObsFn) -> Callable[[Any], BatchedSim | None]:
    return lambda env: MujocoSim(env, reward_fn, obs_fn)


MUJOCO_BATCHED: dict[type, Callable[[Any], BatchedSim | None]] = {
    InvertedPendulumEnv: _sim(_inverted_pendulum, _inverted_pendulum_obs),
    HalfCheetahEnv: _sim(_half_cheetah, _locomotion_obs),
    HopperEnv: _sim(_hopper_or_walker, _clipped_velocity_obs),
    Walker2dEnv: _sim(_hopper_or_walker, _clipped_velocity_obs),
}
"""Batched simulators of the MuJoCo envs whose reward and termination are reproduced, by exact class."""

MUJOCO_ADAPTERS: dict[type | str, StateAdapter] = {MujocoEnv: MUJOCO_ADAPTER}
"""Every MuJoCo env (and subclass) saves and restores its integration state."""
