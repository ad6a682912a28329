"""Planners: known optima, horizons and goals, warm starts, colored noise, a learned model, and MPC."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import Tensor

from dreamlab.algos.dyna.model import TabularModel
from dreamlab.errors import DreamlabError
from dreamlab.planners import (
    ActionSpec,
    MPCAgent,
    PlanResult,
    cem,
    colored_noise,
    evaluate,
    goal_objective,
    gradient_plan,
    mppi,
    mppi_weights,
    random_shooting,
    reward_objective,
    shift_plan,
)
from dreamlab.protocols import Agent, WorldModel
from dreamlab.types import State, StepOut, Trajectory


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class VectorModel(WorldModel):
    """Base of the test models: the state is the observation vector, and renders as itself."""

    def initial(self, obs: Tensor) -> State:
        return State(z=obs.float())  # [B, D]

    def decode(self, state: State) -> Tensor:
        return state.z


class Identity(VectorModel):
    """z_{t+1} = a_t: with horizon 1 the imagined final state is the action itself."""

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        zeros = torch.zeros(action.shape[0])
        return State(z=action), StepOut(reward=zeros, cont=torch.ones_like(zeros))


class Integrator(VectorModel):
    """A point mass without inertia: z_{t+1} = z_t + a_t."""

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        zeros = torch.zeros(action.shape[0])
        return State(z=state.z + action), StepOut(reward=zeros, cont=torch.ones_like(zeros))


def final_state(f: Callable[[Tensor], Tensor]) -> Callable[[Trajectory], Tensor]:
    """An objective f(z_H) of the last imagined state."""
    return lambda trajectory: f(trajectory.states.z[:, -1])


QUAD_C = torch.tensor([0.3, -0.5, 0.7, 0.1, -0.2])
QUAD_Q = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])) + 0.3  # symmetric positive definite


def quadratic(x: Tensor) -> Tensor:
    """(x - c)^T Q (x - c) over the first A coordinates; minimum 0 at c."""
    a = x.shape[-1]
    d = x - QUAD_C[:a]
    return ((d @ QUAD_Q[:a, :a]) * d).sum(-1)


def rosenbrock(x: Tensor) -> Tensor:
    """Shifted Rosenbrock (0.5 - x)^2 + 100 (y - x^2)^2: minimum 0 at (0.5, 0.25)."""
    return (0.5 - x[:, 0]) ** 2 + 100.0 * (x[:, 1] - x[:, 0] ** 2) ** 2


def plan_once(
    planner: str, model: Any, state: State, objective: Any, horizon: int, spec: ActionSpec
) -> PlanResult:
    """Each planner with settings that are fast on tiny problems."""
    if planner == "cem":
        return cem(model, state, objective, horizon, spec, generator=gen())
    if planner == "mppi":
        return mppi(model, state, objective, horizon, spec, iterations=10, generator=gen())
    if planner == "gradient":
        return gradient_plan(
            model, state, objective, horizon, spec, iterations=400, lr=0.1, generator=gen()
        )
    return random_shooting(model, state, objective, horizon, spec, samples=4000, generator=gen())


# --- pieces -------------------------------------------------------------------------------------


def test_action_spec_from_a_gymnasium_box() -> None:
    spec = ActionSpec.from_space(gym.make("Pendulum-v1").action_space)
    assert spec.dim == 1 and spec.low.tolist() == [-2.0] and spec.high.tolist() == [2.0]
    assert spec.clip(torch.tensor([[-5.0], [0.5], [3.0]])).flatten().tolist() == [-2.0, 0.5, 2.0]
    sample = spec.sample_uniform((4, 100), gen())
    assert sample.shape == (4, 100, 1) and bool((sample.abs() <= 2).all()) and sample.std() > 0.8
    with pytest.raises(DreamlabError, match="Box"):
        ActionSpec.from_space(gym.spaces.Discrete(3))
    with pytest.raises(DreamlabError, match="finite"):
        ActionSpec(low=torch.tensor([-np.inf]), high=torch.tensor([1.0]))


def test_reward_objective_counts_only_rewards_while_alive() -> None:
    states = State(z=torch.zeros(2, 4, 1))
    trajectory = Trajectory(
        states=states,
        actions=torch.zeros(2, 3, 1),
        reward=torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]),
        cont=torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]]),  # the second ends after step 2
    )
    cost = reward_objective(gamma=0.5)(trajectory)
    assert torch.allclose(cost, torch.tensor([-1.75, -1.5]))


def test_goal_objective_metrics_and_reductions() -> None:
    z = torch.tensor([[[9.0, 9.0], [3.0, 4.0], [0.0, 1.0]]])  # s_0 (ignored), s_1, s_2
    trajectory = Trajectory(
        states=State(z=z),
        actions=torch.zeros(1, 2, 2),
        reward=torch.zeros(1, 2),
        cont=torch.ones(1, 2),
    )
    goal = torch.zeros(2)
    assert goal_objective(goal)(trajectory).item() == pytest.approx(5.0 + 1.0)
    assert goal_objective(goal, reduce="last")(trajectory).item() == pytest.approx(1.0)
    assert goal_objective(goal, metric="l1")(trajectory).item() == pytest.approx(7.0 + 1.0)
    assert goal_objective(goal, metric="sq")(trajectory).item() == pytest.approx(25.0 + 1.0)
    first = goal_objective(torch.zeros(1), features=lambda s: s.z[:, :1])
    assert first(trajectory).item() == pytest.approx(3.0)
    with pytest.raises(DreamlabError, match="3 features"):
        goal_objective(torch.zeros(3))(trajectory)
    with pytest.raises(DreamlabError, match="goal metric"):
        goal_objective(goal, metric="cosine")  # type: ignore[arg-type]


def test_evaluate_folds_candidates_in_the_layout_of_state_repeat() -> None:
    model = Integrator()
    state = model.initial(torch.tensor([[0.0], [10.0]]))  # B = 2 environments
    actions = torch.arange(6.0).reshape(2, 3, 1, 1)  # [B, N = 3, H = 1, A = 1]
    cost = evaluate(model, state, actions, final_state(lambda z: z[:, 0]))
    assert cost.tolist() == [[0.0, 1.0, 2.0], [13.0, 14.0, 15.0]]


def test_colored_noise_with_beta_2_is_smoother_than_white() -> None:
    def lag1(x: Tensor) -> float:
        return float((x[:, 1:] * x[:, :-1]).mean() / x.var())

    white = colored_noise(0.0, (2000,), 20, 2, gen())  # [N, H, A]
    red = colored_noise(2.0, (2000,), 20, 2, gen())
    assert red.shape == white.shape == (2000, 20, 2)
    assert abs(lag1(white)) < 0.05 and lag1(red) > 0.6
    assert red.var().item() == pytest.approx(1.0, abs=0.1)  # normalised to unit variance


def test_mppi_weights_softmax_elites_and_diverged_candidates() -> None:
    cost = torch.tensor([[0.0, 1.0, 2.0, float("inf")]])
    w = mppi_weights(cost, temperature=1.0)
    assert w[0, 3] == 0 and w[0, 0] > w[0, 1] > w[0, 2] and w.sum().item() == pytest.approx(1.0)
    assert mppi_weights(cost, temperature=1.0, elites=2)[0, 2:].tolist() == [0.0, 0.0]
    assert mppi_weights(cost, temperature=1e-3)[0, 0].item() == pytest.approx(1.0)


# --- known optima -------------------------------------------------------------------------------


@pytest.mark.parametrize("planner", ["cem", "mppi", "gradient"])
def test_planner_finds_the_quadratic_minimum_within_1e_2(planner: str) -> None:
    model, spec = Identity(), ActionSpec.box(-1.0, 1.0, 5)
    state = model.initial(torch.zeros(1, 5))
    result = plan_once(planner, model, state, final_state(quadratic), 1, spec)
    assert result.actions.shape == (1, 1, 5)
    assert torch.allclose(result.actions[0, 0], QUAD_C, atol=1e-2)
    assert result.cost.item() == pytest.approx(quadratic(result.actions[:, 0]).item(), abs=1e-6)


def test_random_shooting_finds_the_quadratic_minimum_within_1e_1_in_2d() -> None:
    model, spec = Identity(), ActionSpec.box(-1.0, 1.0, 2)
    result = plan_once(
        "shooting", model, model.initial(torch.zeros(1, 2)), final_state(quadratic), 1, spec
    )
    assert torch.allclose(result.actions[0, 0], QUAD_C[:2], atol=1e-1)


@pytest.mark.parametrize("planner", ["cem", "mppi", "gradient"])
def test_planner_finds_the_shifted_rosenbrock_minimum_within_5e_2(planner: str) -> None:
    model, spec = Identity(), ActionSpec.box(-2.0, 2.0, 2)
    result = plan_once(
        planner, model, model.initial(torch.zeros(1, 2)), final_state(rosenbrock), 1, spec
    )
    assert torch.allclose(result.actions[0, 0], torch.tensor([0.5, 0.25]), atol=5e-2)
    assert bool((result.actions.abs() <= 2).all())


def test_random_shooting_gets_near_the_rosenbrock_minimum_within_3e_1() -> None:
    model, spec = Identity(), ActionSpec.box(-2.0, 2.0, 2)
    result = plan_once(
        "shooting", model, model.initial(torch.zeros(1, 2)), final_state(rosenbrock), 1, spec
    )
    assert torch.allclose(result.actions[0, 0], torch.tensor([0.5, 0.25]), atol=3e-1)
    assert result.cost.item() < 0.1


# --- horizons, goals, warm starts ----------------------------------------------------------------


def test_integrator_reaches_the_goal_and_sum_prefers_getting_there_early() -> None:
    model, spec = Integrator(), ActionSpec.box(-1.0, 1.0, 2)
    state, goal = model.initial(torch.zeros(1, 2)), torch.tensor([2.0, -1.0])
    results = {}
    for reduce in ("last", "sum"):
        objective = goal_objective(goal, reduce=reduce)
        results[reduce] = mppi(model, state, objective, 5, spec, iterations=10, generator=gen())
    path = {k: torch.cumsum(r.actions[0], dim=0) for k, r in results.items()}  # z_1 .. z_5 [H, 2]
    assert torch.allclose(path["last"][-1], goal, atol=5e-2)
    # Two steps at full speed are the fewest that reach (2, -1); the summed objective takes them
    # (within 0.1: the optimum lies on the action bound, which sampling approaches from inside).
    assert torch.allclose(path["sum"][1], goal, atol=1e-1)
    assert torch.allclose(path["sum"][-1], goal, atol=5e-2)
    summed = goal_objective(goal, reduce="sum")
    s_cost = evaluate(model, state, results["sum"].actions.unsqueeze(1), summed).item()
    l_cost = evaluate(model, state, results["last"].actions.unsqueeze(1), summed).item()
    assert s_cost < l_cost


def test_one_goal_per_environment_gives_each_its_own_plan() -> None:
    model, spec = Identity(), ActionSpec.box(-1.0, 1.0, 2)
    goals = torch.tensor([[0.5, 0.5], [-0.6, 0.2], [0.1, -0.9]])  # [B = 3, D = 2]
    state = model.initial(torch.zeros(3, 2))
    for planner in (cem, mppi):
        result = planner(model, state, goal_objective(goals), 1, spec, generator=gen())
        assert torch.allclose(result.actions[:, 0], goals, atol=2e-2), planner.__name__
    with pytest.raises(DreamlabError, match="goals do not divide"):
        # 3 goals cannot be spread over 2 environments x 100 candidates.
        cem(model, state.index(slice(0, 2)), goal_objective(goals), 1, spec, samples=100, elites=10)


def test_cem_warm_started_from_a_good_plan_is_better_after_one_iteration() -> None:
    model, spec = Integrator(), ActionSpec.box(-1.0, 1.0, 2)
    state, goal = model.initial(torch.zeros(1, 2)), torch.tensor([3.0, 2.0])
    objective = goal_objective(goal, reduce="sum")
    good = cem(model, state, objective, 6, spec, iterations=10, generator=gen(1))
    cold = cem(model, state, objective, 6, spec, iterations=1, generator=gen(2))
    warm = cem(
        model,
        state,
        objective,
        6,
        spec,
        iterations=1,
        init_mean=good.actions,
        init_std=0.1,
        generator=gen(2),
    )
    assert warm.costs_per_iteration.shape == (1, 1)
    assert warm.costs_per_iteration[0, 0] < cold.costs_per_iteration[0, 0] - 0.5
    assert warm.cost.item() <= good.cost.item() + 1e-5


def test_cem_options_keep_elites_colored_noise_and_bad_options() -> None:
    model, spec = Integrator(), ActionSpec.box(-1.0, 1.0, 2)
    state = model.initial(torch.zeros(2, 2))
    objective = goal_objective(torch.tensor([2.0, 2.0]), reduce="last")
    result = cem(
        model,
        state,
        objective,
        4,
        spec,
        samples=100,
        elites=10,
        keep_elites=5,
        noise_beta=2.0,
        iterations=5,
        generator=gen(),
    )
    assert result.costs_per_iteration.shape == (5, 2) and result.cost.max().item() < 0.1
    # With elites kept and the mean evaluated, an iteration's best never gets much worse.
    assert bool((result.costs_per_iteration[1:] <= result.costs_per_iteration[:-1] + 1e-4).all())
    with pytest.raises(DreamlabError, match="elites <= samples"):
        cem(model, state, objective, 4, spec, samples=10, elites=20)
    with pytest.raises(DreamlabError, match="init_mean"):
        cem(model, state, objective, 4, spec, init_mean=torch.zeros(3, 2))


def test_planners_are_deterministic_under_a_seeded_generator() -> None:
    model, spec = Integrator(), ActionSpec.box(-1.0, 1.0, 2)
    state, objective = model.initial(torch.zeros(1, 2)), goal_objective(torch.tensor([1.0, 1.0]))
    for planner in (cem, mppi):
        a = planner(
            model, state, objective, 3, spec, iterations=2, noise_beta=1.0, generator=gen(5)
        )
        b = planner(
            model, state, objective, 3, spec, iterations=2, noise_beta=1.0, generator=gen(5)
        )
        assert torch.equal(a.actions, b.actions)


def test_gradient_planner_refuses_a_model_without_gradients() -> None:
    # A table model indexes with integer actions: no gradient can reach them.
    table = TabularModel(
        next_state=torch.tensor([[1, 0], [1, 0]]),
        reward=torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
        terminal=torch.zeros(2, 2, dtype=torch.bool),
        known=torch.ones(2, 2, dtype=torch.bool),
    )
    state = table.initial(torch.tensor([0]))
    spec = ActionSpec.box(0.0, 1.0, 1)
    with pytest.raises(DreamlabError, match="differentiable model"):
        gradient_plan(table, state, reward_objective(), 3, spec, iterations=2)
    # Sampling planners need no gradients and work on the same table.
    result = cem(
        table,
        state,
        reward_objective(),
        3,
        spec,
        samples=50,
        elites=5,
        iterations=2,
        generator=gen(),
    )
    assert result.cost.item() <= -2.0


# --- a learned model ----------------------------------------------------------------------------


def _linear(obs: Tensor, action: Tensor) -> Tensor:
    return torch.cat([obs, action, torch.ones_like(action[..., :1])], dim=-1)  # [..., 5]


def _quadratic(obs: Tensor, action: Tensor) -> Tensor:
    x = _linear(obs, action)
    i, j = torch.triu_indices(x.shape[-1], x.shape[-1])
    return x[..., i] * x[..., j]  # [..., 15]: every product x_i x_j with i <= j


def _ridge(x: Tensor, y: Tensor) -> Tensor:
    """Least squares with a tiny ridge (cos^2 + sin^2 = 1 makes the quadratic features collinear)."""
    x, y = x.double(), y.double()
    gram = x.T @ x + 1e-6 * torch.eye(x.shape[1], dtype=x.dtype)
    return torch.linalg.solve(gram, x.T @ y).float()


class LinearPendulum(VectorModel):
    """A learned Pendulum model: next obs linear in [obs, action], reward linear in quadratic features."""

    def __init__(self, w_next: Tensor, w_reward: Tensor) -> None:
        self.w_next = w_next  # [5, 3]
        self.w_reward = w_reward  # [15]

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        z = state.z
        reward = _quadratic(z, action) @ self.w_reward  # r_{t+1} = r(o_t, a_t)
        return State(z=_linear(z, action) @ self.w_next), StepOut(
            reward=reward, cont=torch.ones_like(reward)
        )


@pytest.fixture(scope="module")
def pendulum() -> tuple[LinearPendulum, Tensor, ActionSpec]:
    env = gym.make("Pendulum-v1")
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    rows: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]] = []
    while len(rows) < 2000:
        action = env.action_space.sample()
        nxt, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, float(reward), nxt))
        obs = env.reset()[0] if terminated or truncated else nxt
    o, a, r, o2 = (
        torch.as_tensor(np.array(col), dtype=torch.float32) for col in zip(*rows, strict=True)
    )
    model = LinearPendulum(_ridge(_linear(o, a), o2), _ridge(_quadratic(o, a), r[:, None])[:, 0])
    # The dynamics are nearly linear over one step; the fit must be good for the test to mean much.
    assert ((_linear(o, a) @ model.w_next - o2) ** 2).mean() < 0.05
    return model, o[[5, 300]], ActionSpec.from_space(env.action_space)


@pytest.mark.parametrize("planner", ["shooting", "cem", "mppi", "gradient"])
def test_every_planner_works_unchanged_on_a_learned_model(
    planner: str, pendulum: tuple[LinearPendulum, Tensor, ActionSpec]
) -> None:
    model, obs, spec = pendulum
    assert isinstance(model, WorldModel)
    state, horizon, objective = model.initial(obs), 12, reward_objective()
    options: dict[str, dict[str, Any]] = {
        "shooting": {"samples": 300},
        "cem": {"samples": 150, "elites": 15, "iterations": 4},
        "mppi": {"samples": 150, "iterations": 4},
        "gradient": {"starts": 4, "iterations": 30, "lr": 0.1},
    }
    planners: dict[str, Callable[..., PlanResult]] = {
        "shooting": random_shooting,
        "cem": cem,
        "mppi": mppi,
        "gradient": gradient_plan,
    }
    fn = planners[planner]
    result = fn(model, state, objective, horizon, spec, generator=gen(), **options[planner])
    assert result.actions.shape == (2, horizon, 1)
    assert bool(torch.isfinite(result.actions).all()) and bool((result.actions.abs() <= 2.0).all())
    random_cost = evaluate(
        model, state, spec.sample_uniform((2, 200, horizon), gen(1)), objective
    ).mean(1)
    assert bool((result.cost < random_cost).all())
    # The reported cost is the model's cost of the returned plan.
    again = evaluate(model, state, result.actions.unsqueeze(1), objective)[:, 0]
    assert torch.allclose(result.cost, again, rtol=1e-4, atol=1e-4)


# --- MPC ----------------------------------------------------------------------------------------


def test_mpc_agent_replans_every_k_steps_warm_starts_and_reaches_the_goal() -> None:
    model, spec = Integrator(), ActionSpec.box(-1.0, 1.0, 2)
    goal = np.array([3.0, -2.0], dtype=np.float32)
    calls: list[dict[str, Any]] = []
    results: list[PlanResult] = []

    def counted(*args: Any, **kwargs: Any) -> PlanResult:
        calls.append(kwargs)
        results.append(cem(*args, samples=200, iterations=5, generator=generator, **kwargs))
        return results[-1]

    generator = gen()
    agent = MPCAgent(
        model=model,
        objective=goal_objective(torch.as_tensor(goal), reduce="sum"),
        planner=counted,
        horizon=5,
        spec=spec,
        replan_every=2,
    )
    assert isinstance(agent, Agent)
    pos, carry = np.zeros(2, dtype=np.float32), None
    for _ in range(8):
        action, carry = agent.act(pos, carry)
        assert action.shape == (2,) and np.all(np.abs(action) <= 1.0)
        if carry.offset == 1:  # just replanned: the imagined trajectory starts at the observation
            assert carry.trajectory.states.z.shape == (1, 6, 2)
            assert np.allclose(carry.trajectory.states.z[0, 0].numpy(), pos)
        pos = pos + np.clip(action, -1.0, 1.0)
    assert len(calls) == 4 and carry is not None and carry.replans == 4 and carry.step == 8
    assert "init_mean" not in calls[0]
    first_mean = results[0].mean
    assert first_mean is not None
    expected = torch.cat([first_mean[:, 2:], torch.zeros(1, 2, 2)], dim=1)  # shifted, midpoint tail
    assert torch.allclose(calls[1]["init_mean"], expected)
    assert np.linalg.norm(pos - goal) < 0.1


def test_mpc_agent_with_a_partial_planner_and_an_objective_per_observation() -> None:
    model, spec = Integrator(), ActionSpec.box(-1.0, 1.0, 1)
    # The observation carries its own goal as a second coordinate; the model sees only the first.
    agent = MPCAgent(
        model=model,
        objective_for=lambda obs: goal_objective(torch.tensor([float(obs[1])]), reduce="last"),
        planner=functools.partial(mppi, samples=100, iterations=3, generator=gen()),
        horizon=3,
        spec=spec,
        encode=lambda obs: State(z=torch.tensor([[float(obs[0])]])),
    )
    pos, carry = 0.0, None
    for _ in range(4):
        action, carry = agent.act(np.array([pos, -1.5]), carry)
        pos += float(np.clip(action[0], -1, 1))
    assert abs(pos + 1.5) < 0.1
    with pytest.raises(DreamlabError, match="exactly one"):
        MPCAgent(model=model, planner=mppi, horizon=3, spec=spec)
    with pytest.raises(DreamlabError, match="replan_every"):
        MPCAgent(
            model=model,
            objective=reward_objective(),
            planner=mppi,
            horizon=3,
            spec=spec,
            replan_every=4,
        )


def test_shift_plan_pads_with_the_midpoint() -> None:
    spec = ActionSpec(low=torch.tensor([0.0]), high=torch.tensor([2.0]))
    plan = torch.arange(4.0).reshape(1, 4, 1)
    assert shift_plan(plan, 3, spec).flatten().tolist() == [3.0, 1.0, 1.0, 1.0]
    assert shift_plan(plan, 9, spec).flatten().tolist() == [1.0, 1.0, 1.0, 1.0]
