"""dreamlab.sim: the simulator-based world model equals stepping the real env, candidate by candidate.

Classic-control states are compared with ``assert_allclose(rtol=1e-12)``: the real envs compute with
numpy scalars and python floats, and numpy may evaluate ``cos``/``sin`` on an array differently from
on a scalar in the last bit. MuJoCo (``mujoco.batch``) and the mazes are compared bit for bit.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch

from dreamlab.envs import make_env
from dreamlab.errors import DreamlabError
from dreamlab.rollout import rollout
from dreamlab.sim import SimulatorModel, find_batched, throughput
from dreamlab.types import State

HAS_MUJOCO = importlib.util.find_spec("mujoco") is not None
HAS_BATCH = HAS_MUJOCO and importlib.util.find_spec("mujoco.batch") is not None
needs_mujoco = pytest.mark.skipif(not HAS_MUJOCO, reason="mujoco is not installed")

CLASSIC = ["Pendulum-v1", "CartPole-v1", "Acrobot-v1", "MountainCarContinuous-v0"]
MUJOCO = ["InvertedPendulum-v5", "HalfCheetah-v5"] if HAS_MUJOCO else []
MAZES = [("dyna_maze", {}), ("blocking_maze", {"change_at": 8})]
CASES = [(n, {}) for n in CLASSIC + MUJOCO] + MAZES
# Up, up, six times right, down three times, right twice, up three times: the dyna maze's goal in 16.
MAZE_PATH = [0, 0, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 0, 0, 0]
HORIZON = 30


def true_state(env: gymnasium.Env) -> np.ndarray:
    """The real env's full state, read without dreamlab.sim."""
    u = env.unwrapped
    if hasattr(u, "model") and hasattr(u, "data"):
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        z = np.empty(mujoco.mj_stateSize(u.model, spec))
        mujoco.mj_getState(u.model, u.data, z, spec)
        return z
    if hasattr(u, "total_steps"):
        return np.array([u.layout.index(u.position), u.total_steps], dtype=np.float64)
    return np.asarray(u.state, dtype=np.float64)


def action_sequence(env: gymnasium.Env, name: str, n: int, seed: int) -> np.ndarray:
    """A fixed sequence of actions: uniform in the action space (the maze walks to its goal first)."""
    rng = np.random.default_rng(seed)
    space = env.action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        acts = rng.integers(space.n, size=n)
        if name == "dyna_maze" and seed == 0:
            k = min(n, len(MAZE_PATH))
            acts[:k] = MAZE_PATH[:k]
        return acts
    assert isinstance(space, gymnasium.spaces.Box)
    acts = rng.uniform(space.low, space.high, size=(n, *space.shape))
    if name == "InvertedPendulum-v5":
        acts *= 0.1  # full-range pushes topple the pole in 3 to 5 steps; these take 12 to 23
    return acts.astype(space.dtype)


def replay(name: str, kwargs: dict[str, Any], seed: int, actions: np.ndarray) -> dict[str, Any]:
    """Step a fresh real env (reset with ``seed``) through ``actions`` until it terminates."""
    env = make_env(name, **kwargs)
    env.reset(seed=seed)
    states, obs, rewards, terms = [true_state(env)], [], [], []
    for a in actions:
        o, r, term, _, _ = env.step(a if a.ndim else int(a))
        states.append(true_state(env))
        obs.append(np.asarray(o))
        rewards.append(float(r))
        terms.append(bool(term))
        if term:
            break
    env.close()
    return {"states": np.stack(states), "obs": np.stack(obs), "reward": rewards, "term": terms}


def assert_same(name: str, model_values: np.ndarray, real_values: np.ndarray) -> None:
    if name in CLASSIC:
        np.testing.assert_allclose(model_values, real_values, rtol=1e-12, atol=0)
    else:
        np.testing.assert_array_equal(model_values, real_values)


def check_against_real(
    model: SimulatorModel,
    name: str,
    kwargs: dict[str, Any],
    seeds: list[int],
    action_seeds: list[int],
) -> None:
    """Candidates b start from the real env reset with seeds[b] and follow action_seeds[b]'s actions."""
    starts, acts = [], []
    for seed, action_seed in zip(seeds, action_seeds, strict=True):
        env = make_env(name, **kwargs)
        env.reset(seed=seed)
        starts.append(model.capture(env))
        acts.append(action_sequence(env, name, HORIZON, action_seed))
        env.close()
    state = State.cat(starts)
    traj = rollout(model, state, torch.as_tensor(np.stack(acts)))  # [B, H(, A)]
    for b, (seed, a) in enumerate(zip(seeds, acts, strict=True)):
        real = replay(name, kwargs, seed, a)
        t = len(real["reward"])  # steps until (and including) termination
        z = traj.states.z[b].numpy()  # [H + 1, D]
        assert_same(name, z[: t + 1], real["states"])
        np.testing.assert_allclose(traj.reward[b, :t].numpy(), real["reward"], rtol=1e-12, atol=0)
        assert traj.cont[b, :t].tolist() == [0.0 if term else 1.0 for term in real["term"]]
        obs = model.observation(traj.states.index(b).map(lambda x: x[0]))  # [H + 1, ...]
        assert_same(name, obs[1 : t + 1].numpy(), real["obs"])
        if real["term"][-1]:
            # A terminated candidate stays terminated: frozen state, reward 0, cont 0.
            assert (traj.reward[b, t:] == 0).all() and (traj.cont[b, t:] == 0).all()
            assert (traj.states.z[b, t:] == traj.states.z[b, t]).all()
            assert traj.states.extras["done"][b, t:].all()


@pytest.mark.parametrize("backend", ["batched", "loop"])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_rollout_equals_the_real_env(name: str, kwargs: dict[str, Any], backend: str) -> None:
    if name in MUJOCO and backend == "batched" and not HAS_BATCH:
        pytest.skip(
            "mujoco.batch is missing: the rollout engine is exact only up to the warm start"
        )
    model = SimulatorModel.for_env(name, backend=backend, **kwargs)
    assert model.backend == backend
    check_against_real(model, name, kwargs, seeds=[0], action_seeds=[0])


def classic_states(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random states [n, D] over the whole state space, edges and both state dtypes included."""
    if name == "Pendulum-v1":
        return np.stack([rng.uniform(-30, 30, n), rng.uniform(-8, 8, n)], 1)
    if name == "CartPole-v1":
        return rng.uniform(-2.5, 2.5, (n, 4)) * [1, 1, 0.1, 1]
    if name == "Acrobot-v1":  # near the velocity bounds, and past pi so that angles wrap
        return rng.uniform(-1, 1, (n, 4)) * [np.pi, np.pi, 13, 29]
    pos, vel = rng.uniform(-1.3, 0.7, n), rng.uniform(-0.08, 0.08, n)
    pos[: n // 3] = rng.choice([-1.2, -1.19999, 0.45, 0.44999, 0.6], n // 3)
    z = np.stack([pos, vel], 1)
    # The env's state is float64 after reset and float32 after a step, which changes its arithmetic.
    z[n // 2 :] = z[n // 2 :].astype(np.float32)
    return z


@pytest.mark.parametrize("name", CLASSIC)
def test_classic_steps_equal_the_env_from_any_state(name: str) -> None:
    """One batched step from 500 random states (actions past the bounds too) against env.step."""
    rng = np.random.default_rng(0)
    model = SimulatorModel.for_env(name, backend="batched")
    env = make_env(name).unwrapped
    env.reset(seed=0)
    z = classic_states(name, 500, rng)
    space = env.action_space
    if isinstance(space, gymnasium.spaces.Box):
        actions = (rng.uniform(-1.5, 1.5, (500, 1)) * space.high).astype(np.float32)
        actions[:50] = space.high * rng.choice([-1.0, 0.0, 1.0], (50, 1))
    else:
        actions = rng.integers(space.n, size=500)
    nxt, out = model.step(State(z=torch.from_numpy(z)), torch.as_tensor(actions))
    for i in range(500):
        env.state = z[i].astype(np.float32) if i >= 250 and name.startswith("Mountain") else z[i]
        if name == "CartPole-v1":
            env.steps_beyond_terminated = None
        _, r, term, _, _ = env.step(actions[i] if actions.ndim == 2 else int(actions[i]))
        np.testing.assert_allclose(nxt.z[i].numpy(), np.asarray(env.state, np.float64), rtol=1e-12)
        assert float(out.reward[i]) == pytest.approx(r, rel=1e-12, abs=0)
        assert float(out.cont[i]) == (0.0 if term else 1.0)
    assert 0 < int((out.cont == 0).sum()) < 500 or name == "Pendulum-v1"


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_candidates_evolve_independently(name: str, kwargs: dict[str, Any]) -> None:
    """B = 4 candidates, two start states and four action sequences, in one batch."""
    model = SimulatorModel.for_env(name, backend="batched", **kwargs)
    check_against_real(model, name, kwargs, seeds=[0, 0, 1, 1], action_seeds=[0, 1, 2, 3])


def test_the_dyna_maze_path_reaches_the_goal() -> None:
    """The scripted maze sequence really terminates, so the sticky-termination checks above run."""
    env = make_env("dyna_maze")
    real = replay("dyna_maze", {}, 0, action_sequence(env, "dyna_maze", HORIZON, 0))
    assert real["term"][-1] and len(real["reward"]) == len(MAZE_PATH) and real["reward"][-1] == 1.0


def test_blocking_maze_changes_inside_the_rollout() -> None:
    """With change_at = 8, the maze changes walls in the middle of the 30 steps the tests compare."""
    model = SimulatorModel.for_env("blocking_maze", backend="batched", change_at=8)
    env = make_env("blocking_maze", change_at=8)
    env.reset(seed=0)
    traj = rollout(model, model.capture(env), torch.zeros(1, 12, dtype=torch.long))
    assert traj.states.z[0, :, 1].tolist() == list(
        range(13)
    )  # the world clock is part of the state


@pytest.mark.parametrize("backend", ["batched", "loop"])
@pytest.mark.parametrize("name", ["CartPole-v1", *MUJOCO[1:], "dyna_maze"])
def test_step_has_value_semantics_and_leaves_the_real_env_alone(name: str, backend: str) -> None:
    env, twin = make_env(name), make_env(name)
    env.reset(seed=3)
    twin.reset(seed=3)
    model = SimulatorModel.for_env(name, backend=backend)
    state = model.capture(env).repeat(5)
    before = {k: v.clone() for k, v in state.tensors().items()}
    actions = torch.as_tensor(np.stack([action_sequence(env, name, 10, s) for s in range(5)]))
    traj = rollout(model, state, actions)
    assert not torch.equal(traj.states.z[:, -1], state.z)  # the model did move
    for k, v in state.tensors().items():
        assert torch.equal(v, before[k]), k  # the input State is unchanged
    # The real env is where it was: its next step equals its untouched twin's.
    np.testing.assert_array_equal(true_state(env), true_state(twin))
    a = action_sequence(env, name, 1, 9)[0]
    a = a if a.ndim else int(a)
    out, out_twin = env.step(a), twin.step(a)
    np.testing.assert_array_equal(np.asarray(out[0]), np.asarray(out_twin[0]))
    assert out[1] == out_twin[1]


@needs_mujoco
def test_restore_is_the_inverse_of_capture() -> None:
    model = SimulatorModel.for_env("HalfCheetah-v5")
    src, dst = make_env("HalfCheetah-v5"), make_env("HalfCheetah-v5")
    src.reset(seed=1)
    dst.reset(seed=2)
    src.step(src.action_space.sample())
    model.restore(dst, model.capture(src))
    np.testing.assert_array_equal(true_state(dst), true_state(src))
    a = np.full(6, 0.3, dtype=np.float32)
    np.testing.assert_array_equal(src.step(a)[0], dst.step(a)[0])
    with pytest.raises(DreamlabError, match="simulates 'HalfCheetah-v5'"):
        model.capture(make_env("Hopper-v5"))


class NoStateEnv(gymnasium.Env):
    """A tiny env whose state cannot be saved or restored."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (1,))
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: int) -> tuple:
        return np.zeros(1, dtype=np.float32), 0.0, False, False, {}


class CounterEnv(NoStateEnv):
    """The same env with get_state/set_state methods: a counter moved by the action."""

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
        self.count = 0
        return super().reset(seed=seed)

    def step(self, action: int) -> tuple:
        self.count += 1 if action == 1 else -1
        return (
            np.array([self.count], dtype=np.float32),
            float(self.count),
            self.count >= 3,
            False,
            {},
        )

    def get_state(self) -> np.ndarray:
        return np.array([self.count])

    def set_state(self, z: np.ndarray) -> None:
        self.count = int(z[0])


gymnasium.register("SimTestNoState-v0", entry_point=NoStateEnv)
gymnasium.register("SimTestCounter-v0", entry_point=CounterEnv)


def test_an_env_without_restorable_state_gets_a_one_line_error() -> None:
    with pytest.raises(DreamlabError) as err:
        SimulatorModel.for_env("SimTestNoState-v0")
    message = str(err.value)
    assert "\n" not in message and "SimTestNoState-v0" in message
    assert "cannot be saved and restored" in message


def test_an_env_with_get_and_set_state_methods_runs_on_the_loop() -> None:
    model = SimulatorModel.for_env("SimTestCounter-v0")
    assert model.backend == "loop"
    env = make_env("SimTestCounter-v0")
    env.reset(seed=0)
    state = model.capture(env).repeat(2)
    traj = rollout(model, state, torch.tensor([[1, 1, 1, 1], [0, 1, 0, 0]]))
    assert traj.states.z[:, :, 0].tolist() == [[0, 1, 2, 3, 3], [0, -1, 0, -1, -2]]
    assert traj.reward.tolist() == [[1, 2, 3, 0], [-1, 0, -1, -2]]
    assert traj.cont.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    with pytest.raises(DreamlabError, match="no batched simulator"):
        SimulatorModel.for_env("SimTestCounter-v0", backend="batched")


def test_unknown_backend() -> None:
    with pytest.raises(DreamlabError, match="unknown simulator backend 'fast'"):
        SimulatorModel.for_env("Pendulum-v1", backend="fast")  # type: ignore[arg-type]


@needs_mujoco
def test_any_mujoco_env_runs_exactly_on_the_loop() -> None:
    """Swimmer-v5 has no batched simulator; its integration state still makes the loop exact."""
    model = SimulatorModel.for_env("Swimmer-v5")
    assert model.backend == "loop"
    env = make_env("Swimmer-v5")
    env.reset(seed=0)
    acts = action_sequence(env, "Swimmer-v5", 10, 0)
    traj = rollout(model, model.capture(env), torch.as_tensor(acts)[None])
    real = replay("Swimmer-v5", {}, 0, acts)
    np.testing.assert_array_equal(traj.states.z[0].numpy(), real["states"])
    assert traj.reward[0].tolist() == real["reward"]


def test_initial_only_where_the_observation_is_the_state() -> None:
    for name in ["Pendulum-v1", "CartPole-v1", *MUJOCO[1:], "blocking_maze"]:
        model = SimulatorModel.for_env(name)
        env = make_env(name)
        obs, _ = env.reset(seed=0)
        with pytest.raises(DreamlabError, match=r"capture\(env\)") as err:
            model.initial(torch.as_tensor(np.asarray(obs))[None])
        assert "\n" not in str(err.value)
    model = SimulatorModel.for_env("dyna_maze")
    env = make_env("dyna_maze")
    obs, _ = env.reset(seed=0)
    state = model.initial(torch.tensor([obs]))
    assert torch.equal(state.z, model.capture(env).z)


def test_decode_renders_the_states() -> None:
    for name in ["Pendulum-v1", "dyna_maze"]:
        model = SimulatorModel.for_env(name)
        real = make_env(name, render_mode="rgb_array")
        real.reset(seed=0)
        first = model.capture(real)
        frame = real.render()
        a = action_sequence(real, name, 1, 0)[0]
        real.step(a if a.ndim else int(a))
        frames = model.decode(State.cat([first, model.capture(real)]))
        assert frames.dtype == torch.uint8 and frames.shape == (2, *frame.shape)
        np.testing.assert_array_equal(frames[0].numpy(), frame)
        assert not torch.equal(frames[0], frames[1])


@needs_mujoco
def test_the_rollout_engine_agrees_up_to_the_warm_start() -> None:
    """mujoco.rollout cannot return the solver's warm start: exact for one step, then ~1e-10."""
    from dreamlab.sim.mujoco import MujocoSim, state_layout

    env = make_env("HalfCheetah-v5")
    env.reset(seed=0)
    exact = SimulatorModel.for_env("HalfCheetah-v5", backend="batched")
    own = make_env("HalfCheetah-v5")
    sim = find_batched(own)
    assert isinstance(sim, MujocoSim)
    approx = SimulatorModel(
        own, MujocoSim(own.unwrapped, sim.reward_fn, sim.obs_fn, engine="rollout")
    )
    state = exact.capture(env).repeat(3)
    actions = torch.as_tensor(np.stack([action_sequence(env, "x", 20, s) for s in range(3)]))
    t1, t2 = rollout(exact, state, actions), rollout(approx, state, actions)
    warm = state_layout(env.unwrapped.model)["warmstart"]
    keep = np.r_[0 : warm.start, warm.stop : state.z.shape[1]]
    z1, z2 = t1.states.z[..., keep], t2.states.z[..., keep]
    assert torch.equal(z1[:, 1], z2[:, 1])
    torch.testing.assert_close(z1, z2, rtol=0, atol=1e-6)
    torch.testing.assert_close(t1.reward, t2.reward, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", CLASSIC)
def test_batched_is_faster_than_the_loop(name: str) -> None:
    fast = SimulatorModel.for_env(name, backend="batched")
    slow = SimulatorModel.for_env(name, backend="loop")
    env = make_env(name)
    env.reset(seed=0)
    b = 256
    state = fast.capture(env).repeat(b)
    actions = torch.as_tensor(np.stack([action_sequence(env, name, 4, s) for s in range(b)]))
    result = throughput(fast, slow, state, actions, min_seconds=0.05)
    assert result.ratio > 3, result
