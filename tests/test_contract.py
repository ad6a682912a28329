"""The contract every system shares: State, StepOut, Batch, Trajectory and rollout."""

from __future__ import annotations

import pytest
import torch

from dreamlab.protocols import WorldModel
from dreamlab.rollout import rollout
from dreamlab.types import Batch, State, StepOut


class PointMass:
    """A tiny world model with a known answer: z' = z + a, reward = -|z'|, ends when |z'| > 3."""

    def initial(self, obs: torch.Tensor) -> State:
        return State(
            z=obs.float(), h=torch.zeros(obs.shape[0], 2), extras={"t": torch.zeros(obs.shape[0])}
        )

    def step(self, state: State, action: torch.Tensor) -> tuple[State, StepOut]:
        z = state.z + action
        out = StepOut(reward=-z.abs().sum(-1), cont=(z.abs().sum(-1) <= 3).float())
        return State(z=z, h=state.h + 1, extras={"t": state.extras["t"] + 1}), out

    def observe(self, state: State, action: torch.Tensor, obs: torch.Tensor) -> State:
        return self.initial(obs)

    def decode(self, state: State) -> torch.Tensor:
        return state.z


def test_point_mass_satisfies_the_protocol() -> None:
    assert isinstance(PointMass(), WorldModel)


def test_state_checks_its_batch_dimension() -> None:
    with pytest.raises(ValueError, match="leading batch dimension 3"):
        State(z=torch.zeros(3, 2), h=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="scalar"):
        State(z=torch.tensor(1.0))


def test_state_repeat_index_cat_and_features() -> None:
    s = State(z=torch.arange(6.0).reshape(3, 2), h=torch.ones(3, 1), extras={"k": torch.arange(3)})
    r = s.repeat(2)
    assert r.batch_size == 6 and r.extras["k"].tolist() == [0, 0, 1, 1, 2, 2]
    assert r.index(torch.tensor([1, 4])).z.tolist() == [[0.0, 1.0], [4.0, 5.0]]
    assert State.cat([s, s]).batch_size == 6
    assert s.features().shape == (3, 3) and s.features()[2].tolist() == [4.0, 5.0, 1.0]
    assert s.index(1).batch_size == 1


def test_stepout_and_batch_validate_shapes() -> None:
    with pytest.raises(ValueError, match="reward"):
        StepOut(reward=torch.zeros(3, 1), cont=torch.zeros(3))
    ok = Batch(
        obs=torch.zeros(2, 5, 4, dtype=torch.uint8),
        action=torch.zeros(2, 5, dtype=torch.long),
        reward=torch.zeros(2, 5),
        is_first=torch.zeros(2, 5, dtype=torch.bool),
        is_last=torch.zeros(2, 5, dtype=torch.bool),
        is_terminal=torch.zeros(2, 5, dtype=torch.bool),
    )
    assert ok.shape == (2, 5) and ok.to("cpu").obs.dtype == torch.uint8
    with pytest.raises(ValueError, match=r"Batch\.reward"):
        Batch(
            obs=ok.obs,
            action=ok.action,
            reward=torch.zeros(2, 4),
            is_first=ok.is_first,
            is_last=ok.is_last,
            is_terminal=ok.is_terminal,
        )


def test_rollout_with_actions_matches_hand_computation() -> None:
    model = PointMass()
    start = model.initial(torch.tensor([[0.0], [1.0]]))
    actions = torch.tensor([[[1.0], [1.0], [1.0]], [[-1.0], [0.0], [5.0]]])  # [B=2, H=3, A=1]
    traj = rollout(model, start, actions)
    assert traj.horizon == 3
    assert traj.states.z[:, :, 0].tolist() == [[0, 1, 2, 3], [1, 0, 0, 5]]
    assert traj.states.h is not None and traj.states.h.shape == (2, 4, 2)
    assert traj.reward.tolist() == [[-1, -2, -3], [0, 0, -5]]
    assert traj.cont.tolist() == [[1, 1, 1], [1, 1, 0]]
    # Discounted return with gamma 0.5: -1 - 1 - 0.75 and 0 + 0 - 1.25 (the last step still counts).
    assert traj.discounted_return(0.5).tolist() == [-2.75, -1.25]


def test_rollout_stops_counting_rewards_after_the_end() -> None:
    model = PointMass()
    traj = rollout(
        model, model.initial(torch.tensor([[0.0]])), torch.tensor([[[4.0], [1.0], [1.0]]])
    )
    assert traj.cont[0].tolist() == [0, 0, 0]
    assert traj.discounted_return(1.0).tolist() == [-4.0]  # only the step that ended the episode


def test_rollout_with_a_policy_and_bad_inputs() -> None:
    model = PointMass()
    start = model.initial(torch.zeros(4, 1))
    traj = rollout(model, start, lambda s, t: torch.full((4, 1), float(t)), horizon=3)
    assert traj.actions[0, :, 0].tolist() == [0, 1, 2]
    assert traj.states.z[:, -1, 0].tolist() == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="needs a horizon"):
        rollout(model, start, lambda s, t: s.z)
    with pytest.raises(ValueError, match="B = 4"):
        rollout(model, start, torch.zeros(3, 2, 1))
    with pytest.raises(ValueError, match="exceeds"):
        rollout(model, start, torch.zeros(4, 2, 1), horizon=5)
