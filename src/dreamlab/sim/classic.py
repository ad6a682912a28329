"""gymnasium's classic-control envs, vectorised: each env's own ``step``, operation for operation, over B states.

Every function below reproduces the corresponding ``step`` of gymnasium 1.x (``gymnasium/envs/
classic_control``) on arrays: the same constants, the same order of operations, the same clipping,
angle wrapping, integrator and dtypes. Where the env mixes float32 (its actions) with float64 (its
state), the arrays carry the same dtypes, because numpy promotes an array exactly as it promotes the
scalar the env computes with. The results are the real env's to the bit, up to the last bit of
library functions (``cos``, ``sin``) that numpy may evaluate differently on an array than on a scalar.

The state vector z [B, D] is the env's ``state`` attribute as float64:

- Pendulum-v1: (theta, theta_dot); CartPole-v1: (x, x_dot, theta, theta_dot);
- Acrobot-v1: (theta1, theta2, dtheta1, dtheta2);
- MountainCar-v0 and MountainCarContinuous-v0: (position, velocity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from dreamlab.errors import DreamlabError
from dreamlab.sim.base import BatchedSim, StateAdapter

__all__ = [
    "CLASSIC_ADAPTERS",
    "CLASSIC_BATCHED",
    "FunctionSim",
    "acrobot_step",
    "cartpole_step",
    "continuous_mountain_car_step",
    "mountain_car_step",
    "pendulum_step",
]

F32 = np.float32
StepFn = Callable[[Any, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
ObsFn = Callable[[Any, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FunctionSim:
    """A BatchedSim made of a pure step function and an observation function of one env instance.

    The env only supplies its parameters (``g``, ``force_mag``, ...), read on every call, so an env
    built with other options is simulated with those.
    """

    env: Any
    step_fn: StepFn
    obs_fn: ObsFn

    def step(self, z: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step B states: see ``BatchedSim.step``."""
        return self.step_fn(self.env, z, action)

    def observation(self, z: np.ndarray) -> np.ndarray:
        """The env's observation of each state [B, ...]."""
        return self.obs_fn(self.env, z)


def _pow(x: np.ndarray, p: int) -> np.ndarray:
    """``x ** p`` as numpy evaluates it on each scalar element (the envs compute on scalars).

    float32: element by element, because numpy's scalar float32 pow differs in the last bit from
    every array routine (``x * x``, ``np.power``), and by how much depends on numpy's version;
    only actions are float32, B values per step. float64: ``np.power`` against an array of
    exponents (no ``x * x`` fast path), within one ulp of the scalar result.
    """
    if x.dtype == np.float32:
        return np.array([v**p for v in x.ravel()], dtype=np.float32).reshape(x.shape)
    return np.power(x, np.full(x.shape, p, dtype=x.dtype))


# ---- Pendulum-v1 ----


def _angle_normalize(x: np.ndarray) -> np.ndarray:
    return ((x + np.pi) % (2 * np.pi)) - np.pi


def pendulum_step(
    env: PendulumEnv, z: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PendulumEnv.step over B states: z [B, 2], action float32 [B, 1]."""
    th, thdot = z[:, 0], z[:, 1]
    g, m, l, dt = env.g, env.m, env.l, env.dt  # noqa: E741 (the env's names)
    # The env clips the float32 action array and keeps its float32 dtype (python bounds are weak).
    u = np.clip(action, -env.max_torque, env.max_torque)[:, 0]  # [B] float32
    costs = _pow(_angle_normalize(th), 2) + 0.1 * _pow(thdot, 2) + 0.001 * _pow(u, 2)
    newthdot = thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt
    newthdot = np.clip(newthdot, -env.max_speed, env.max_speed)
    newth = th + newthdot * dt
    z_next = np.stack([newth, newthdot], axis=1).astype(np.float64)  # [B, 2]
    return z_next, (-costs).astype(np.float64), np.zeros(len(z), dtype=bool)


def pendulum_obs(env: PendulumEnv, z: np.ndarray) -> np.ndarray:
    """(cos theta, sin theta, theta_dot) as float32 [B, 3]."""
    theta, thetadot = z[:, 0], z[:, 1]
    return np.stack([np.cos(theta), np.sin(theta), thetadot], axis=1).astype(F32)


# ---- CartPole-v1 ----


def cartpole_step(
    env: CartPoleEnv, z: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CartPoleEnv.step over B states: z [B, 4], action int [B] (0 push left, 1 push right)."""
    x, x_dot, theta, theta_dot = z[:, 0], z[:, 1], z[:, 2], z[:, 3]
    force = np.where(action == 1, env.force_mag, -env.force_mag)
    costheta = np.cos(theta)
    sintheta = np.sin(theta)
    temp = (force + env.polemass_length * np.square(theta_dot) * sintheta) / env.total_mass
    thetaacc = (env.gravity * sintheta - costheta * temp) / (
        env.length * (4.0 / 3.0 - env.masspole * np.square(costheta) / env.total_mass)
    )
    xacc = temp - env.polemass_length * thetaacc * costheta / env.total_mass
    if env.kinematics_integrator == "euler":
        x = x + env.tau * x_dot
        x_dot = x_dot + env.tau * xacc
        theta = theta + env.tau * theta_dot
        theta_dot = theta_dot + env.tau * thetaacc
    else:  # semi-implicit euler
        x_dot = x_dot + env.tau * xacc
        x = x + env.tau * x_dot
        theta_dot = theta_dot + env.tau * thetaacc
        theta = theta + env.tau * theta_dot
    z_next = np.stack([x, x_dot, theta, theta_dot], axis=1).astype(np.float64)  # [B, 4]
    terminated = (
        (x < -env.x_threshold)
        | (x > env.x_threshold)
        | (theta < -env.theta_threshold_radians)
        | (theta > env.theta_threshold_radians)
    )
    # The reward of the step that terminates (later steps are the model's business: reward 0).
    reward = np.where(terminated, -1.0, 0.0) if env._sutton_barto_reward else np.ones(len(z))
    return z_next, reward, terminated


def cartpole_obs(env: CartPoleEnv, z: np.ndarray) -> np.ndarray:
    """The state as float32 [B, 4]."""
    return z.astype(F32)


# ---- Acrobot-v1 ----


def _acrobot_dsdt(env: AcrobotEnv, s: np.ndarray) -> np.ndarray:
    """AcrobotEnv._dsdt over B augmented states s [B, 5] (the torque last) -> [B, 5]."""
    m1 = env.LINK_MASS_1
    m2 = env.LINK_MASS_2
    l1 = env.LINK_LENGTH_1
    lc1 = env.LINK_COM_POS_1
    lc2 = env.LINK_COM_POS_2
    I1 = env.LINK_MOI
    I2 = env.LINK_MOI
    g = 9.8
    a = s[:, 4]
    theta1 = s[:, 0]
    theta2 = s[:, 1]
    dtheta1 = s[:, 2]
    dtheta2 = s[:, 3]
    cos, sin, pi = np.cos, np.sin, np.pi
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos(theta2)) + I1 + I2
    d2 = m2 * (lc2**2 + l1 * lc2 * cos(theta2)) + I2
    phi2 = m2 * lc2 * g * cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * _pow(dtheta2, 2) * sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * cos(theta1 - pi / 2)
        + phi2
    )
    if env.book_or_nips == "nips":
        ddtheta2 = (a + d2 / d1 * phi1 - phi2) / (m2 * lc2**2 + I2 - _pow(d2, 2) / d1)
    else:
        ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * _pow(dtheta1, 2) * sin(theta2) - phi2) / (
            m2 * lc2**2 + I2 - _pow(d2, 2) / d1
        )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return np.stack([dtheta1, dtheta2, ddtheta1, ddtheta2, np.zeros_like(a)], axis=1)  # [B, 5]


def _wrap(x: np.ndarray, m: float, big_m: float) -> np.ndarray:
    """acrobot.wrap on arrays: add or subtract the period one at a time, as the env's while loops do."""
    diff = big_m - m
    x = x.copy()
    while True:
        over = x > big_m
        if not over.any():
            break
        x[over] = x[over] - diff
    while True:
        under = x < m
        if not under.any():
            break
        x[under] = x[under] + diff
    return x


def acrobot_step(
    env: AcrobotEnv, z: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AcrobotEnv.step over B states: z [B, 4], action int [B] (torque -1, 0, +1); one rk4 step of dt."""
    torque = np.asarray(env.AVAIL_TORQUE, dtype=np.float64)[action]  # [B]
    y0 = np.concatenate([z, torque[:, None]], axis=1)  # [B, 5], the env's s_augmented
    # rk4(derivs, y0, [0, dt]): one step of the classic fourth-order Runge-Kutta scheme.
    t = [0, env.dt]
    dt = t[1] - t[0]
    dt2 = dt / 2.0
    k1 = _acrobot_dsdt(env, y0)
    k2 = _acrobot_dsdt(env, y0 + dt2 * k1)
    k3 = _acrobot_dsdt(env, y0 + dt2 * k2)
    k4 = _acrobot_dsdt(env, y0 + dt * k3)
    ns = (y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4))[:, :4]  # [B, 4]
    ns[:, 0] = _wrap(ns[:, 0], -np.pi, np.pi)
    ns[:, 1] = _wrap(ns[:, 1], -np.pi, np.pi)
    # acrobot.bound is min(max(x, m), M).
    ns[:, 2] = np.minimum(np.maximum(ns[:, 2], -env.MAX_VEL_1), env.MAX_VEL_1)
    ns[:, 3] = np.minimum(np.maximum(ns[:, 3], -env.MAX_VEL_2), env.MAX_VEL_2)
    terminated = -np.cos(ns[:, 0]) - np.cos(ns[:, 1] + ns[:, 0]) > 1.0
    reward = np.where(terminated, 0.0, -1.0)
    return ns, reward, terminated


def acrobot_obs(env: AcrobotEnv, z: np.ndarray) -> np.ndarray:
    """(cos th1, sin th1, cos th2, sin th2, dth1, dth2) as float32 [B, 6]."""
    s0, s1 = z[:, 0], z[:, 1]
    return np.stack([np.cos(s0), np.sin(s0), np.cos(s1), np.sin(s1), z[:, 2], z[:, 3]], 1).astype(
        F32
    )


# ---- MountainCar-v0 ----


def mountain_car_step(
    env: MountainCarEnv, z: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MountainCarEnv.step over B states: z [B, 2], action int [B] (push left, none, right)."""
    position, velocity = z[:, 0], z[:, 1]
    velocity = velocity + ((action - 1) * env.force + np.cos(3 * position) * (-env.gravity))
    velocity = np.clip(velocity, -env.max_speed, env.max_speed)
    position = position + velocity
    position = np.clip(position, env.min_position, env.max_position)
    velocity = np.where((position == env.min_position) & (velocity < 0), 0.0, velocity)
    terminated = (position >= env.goal_position) & (velocity >= env.goal_velocity)
    return np.stack([position, velocity], 1), np.full(len(z), -1.0), terminated


def mountain_car_obs(env: Any, z: np.ndarray) -> np.ndarray:
    """(position, velocity) as float32 [B, 2]."""
    return z.astype(F32)


# ---- MountainCarContinuous-v0 ----


def _is_float32(x: np.ndarray) -> np.ndarray:
    """Whether each float64 value is exactly a float32 value."""
    return x.astype(F32).astype(np.float64) == x


def _compare(
    x: np.ndarray, x_is32: np.ndarray, op: Callable[..., np.ndarray], c: float
) -> np.ndarray:
    """``op(x, c)`` for a python float c, as numpy evaluates it: in float32 where x is a float32."""
    return np.where(x_is32, op(x.astype(F32), F32(c)), op(x, c))


def continuous_mountain_car_step(
    env: Continuous_MountainCarEnv, z: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous_MountainCarEnv.step over B states: z [B, 2], action float32 [B, 1].

    This env computes with numpy scalars whose dtype changes along the way: its state is float64 after
    ``reset`` and float32 after every step; an action inside the bounds stays a float32, one outside
    becomes the python float bound; clipped values become python floats. numpy evaluates a float32
    combined with a python float in float32, and anything combined with a float64 in float64. Each
    value below therefore carries a mask ``*_is32`` saying which precision the env is in for each
    state, and every operation is done the way the env's scalar would do it. A state counts as float32
    when both of its values are float32 values (true after any step; a reset state is float64 except
    with probability about 2^-29).
    """
    pos, vel = z[:, 0], z[:, 1]
    s32 = _is_float32(pos) & _is_float32(vel)  # [B] the env's state dtype
    a = action[:, 0]  # [B] float32
    # force = min(max(action[0], min_action), max_action): a python float where it was clipped.
    low, high = a < env.min_action, a > env.max_action
    force_is_py = low | high
    force64 = np.where(low, env.min_action, np.where(high, env.max_action, a.astype(np.float64)))
    # velocity += force * power - 0.0025 * math.cos(3 * position)
    three_pos = np.where(s32, (3 * pos.astype(F32)).astype(np.float64), 3 * pos)
    c = 0.0025 * np.cos(three_pos)  # a python float in the env
    t32 = a * F32(env.power) - c.astype(F32)  # float32 force: the whole term is float32
    t64 = force64 * env.power - c  # python float force: the whole term is a python float
    vel = np.where(
        s32,
        np.where(force_is_py, vel.astype(F32) + t64.astype(F32), vel.astype(F32) + t32).astype(
            np.float64
        ),
        np.where(force_is_py, vel + t64, vel + t32.astype(np.float64)),
    )
    vel_is32 = s32.copy()
    over = _compare(vel, vel_is32, np.greater, env.max_speed)
    vel = np.where(over, env.max_speed, vel)
    vel_is32 &= ~over
    under = _compare(vel, vel_is32, np.less, -env.max_speed)
    vel = np.where(under, -env.max_speed, vel)
    vel_is32 &= ~under
    # position += velocity: in float32 when the position is (a python float velocity becomes float32).
    pos = np.where(s32, (pos.astype(F32) + vel.astype(F32)).astype(np.float64), pos + vel)
    pos_is32 = s32.copy()
    over = _compare(pos, pos_is32, np.greater, env.max_position)
    pos = np.where(over, env.max_position, pos)
    pos_is32 &= ~over
    under = _compare(pos, pos_is32, np.less, env.min_position)
    pos = np.where(under, env.min_position, pos)
    pos_is32 &= ~under
    stop = _compare(pos, pos_is32, np.equal, env.min_position) & (vel < 0)
    vel = np.where(stop, 0.0, vel)
    vel_is32 &= ~stop
    terminated = _compare(pos, pos_is32, np.greater_equal, env.goal_position) & _compare(
        vel, vel_is32, np.greater_equal, float(env.goal_velocity)
    )
    # math.pow(action[0], 2) is the C library's pow of the float32 action as a double.
    reward = np.where(terminated, 100.0, 0.0) - _pow(a.astype(np.float64), 2) * 0.1
    # The env stores the new state as float32.
    z_next = np.stack([pos, vel], 1).astype(F32).astype(np.float64)  # [B, 2]
    return z_next, reward, terminated


# ---- state adapters ----


def _get_classic(env: Any) -> np.ndarray:
    if env.state is None:
        raise DreamlabError(
            f"{type(env).__name__} has no state yet: reset the env before capturing it"
        )
    return np.asarray(env.state, dtype=np.float64).reshape(-1).copy()


def _set_float64(env: Any, z: np.ndarray) -> None:
    env.state = np.array(z, dtype=np.float64)


def _set_pendulum(env: PendulumEnv, z: np.ndarray) -> None:
    env.state = np.array(z, dtype=np.float64)
    env.last_u = None  # only drawn by render; a restored state has no last torque


def _set_cartpole(env: CartPoleEnv, z: np.ndarray) -> None:
    env.state = np.array(z, dtype=np.float64)
    env.steps_beyond_terminated = None


def _set_continuous_mountain_car(env: Continuous_MountainCarEnv, z: np.ndarray) -> None:
    # The dtype of the env's state changes its arithmetic (see continuous_mountain_car_step).
    dtype = F32 if bool(_is_float32(np.asarray(z, dtype=np.float64)).all()) else np.float64
    env.state = np.array(z, dtype=dtype)


CLASSIC_ADAPTERS: dict[type | str, StateAdapter] = {
    PendulumEnv: StateAdapter(_get_classic, _set_pendulum),
    CartPoleEnv: StateAdapter(_get_classic, _set_cartpole),
    AcrobotEnv: StateAdapter(_get_classic, _set_float64),
    MountainCarEnv: StateAdapter(_get_classic, _set_float64),
    Continuous_MountainCarEnv: StateAdapter(_get_classic, _set_continuous_mountain_car),
}
"""State adapters of the classic-control envs: the ``state`` attribute, as float64."""


def _acrobot_sim(env: AcrobotEnv) -> BatchedSim | None:
    # Torque noise draws from the env's random generator: no batched replay can match that.
    if env.torque_noise_max > 0:
        return None
    return FunctionSim(env, acrobot_step, acrobot_obs)


CLASSIC_BATCHED: dict[type, Callable[[Any], BatchedSim | None]] = {
    PendulumEnv: lambda env: FunctionSim(env, pendulum_step, pendulum_obs),
    CartPoleEnv: lambda env: FunctionSim(env, cartpole_step, cartpole_obs),
    AcrobotEnv: _acrobot_sim,
    MountainCarEnv: lambda env: FunctionSim(env, mountain_car_step, mountain_car_obs),
    Continuous_MountainCarEnv: lambda env: FunctionSim(
        env, continuous_mountain_car_step, mountain_car_obs
    ),
}
"""Batched simulators of the classic-control envs, by exact env class (None: not batchable)."""
