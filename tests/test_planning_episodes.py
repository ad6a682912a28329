"""MPC against the simulator, the plan command, and temporal abstraction for planners."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

from dreamlab.envs import make_env
from dreamlab.eval.planning import mpc_episode, plan_settings
from dreamlab.planners import ActionRepeat
from dreamlab.rollout import rollout
from dreamlab.sim import SimulatorModel


def test_action_repeat_holds_actions_and_sums_rewards_while_alive() -> None:
    env = make_env("two-rooms")
    env.reset(seed=0)
    sim = SimulatorModel.for_env("two-rooms")
    start = sim.capture(env)
    actions = torch.tensor([[[0.3, -0.2], [1.0, 0.0]]])  # [B=1, H=2, A=2]
    coarse = rollout(ActionRepeat(sim, 3), start, actions)
    fine = rollout(sim, start, actions.repeat_interleave(3, dim=1))
    assert torch.equal(coarse.states.z[:, -1], fine.states.z[:, -1])
    assert torch.allclose(coarse.reward.sum(), fine.reward.sum())
    assert torch.equal(coarse.cont[:, -1], fine.cont[:, 2::3][:, -1])


def test_two_rooms_simulator_matches_the_env_in_both_backends() -> None:
    generator = torch.Generator().manual_seed(1)
    actions = torch.rand(1, 80, 2, generator=generator) * 2 - 1
    for backend in ("batched", "loop"):
        env = make_env("two-rooms")
        env.reset(seed=5)
        model = SimulatorModel.for_env("two-rooms", backend=backend)
        traj = rollout(model, model.capture(env), actions)
        for t in range(80):
            _, reward, terminated, _, info = env.step(actions[0, t].numpy())
            assert traj.reward[0, t].item() == reward
            assert np.array_equal(
                traj.states.z[0, t + 1, :2].numpy(), info["position"].astype(np.float64)
            )
            if terminated:
                assert traj.cont[0, t].item() == 0.0
                break


def test_mpc_with_the_simulator_solves_pendulum_and_two_rooms() -> None:
    torch.set_num_threads(1)
    pendulum = mpc_episode("Pendulum-v1", plan_settings("Pendulum-v1"), seed=0)
    assert pendulum.steps == 200 and pendulum.ret > -200  # a random policy scores about -1200
    rooms = mpc_episode("two-rooms", plan_settings("two-rooms"), seed=7)  # the door is far away
    assert rooms.success


def test_plan_command_writes_a_video(tmp_path: Path) -> None:
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "dreamlab.cli", *a],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run("plan", "--help").returncode == 0
    proc = run(
        "plan", "--env", "Pendulum-v1", "--max-steps", "12", "--horizon", "10", "--samples", "50"
    )
    assert proc.returncode == 0, proc.stderr
    video = next((tmp_path / "plans").glob("*.gif"))
    frames = iio.imread(video, index=None)
    assert frames.shape[0] >= 6 and frames.shape[-1] in (3, 4)
    bad = run("plan", "--env", "Pendulum-v1", "--horizn", "3")
    assert (
        bad.returncode == 2
        and "--horizon" in bad.stderr
        and len(bad.stderr.strip().splitlines()) == 1
    )
    discrete = run("plan", "--env", "CartPole-v1", "--no-video")
    assert discrete.returncode == 2 and "continuous" in discrete.stderr
