"""Dyna against the book (Sutton & Barto 2nd ed., ch. 8) where the book is exact."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from dreamlab.algos.dyna.config import DynaConfig
from dreamlab.algos.dyna.train import (
    DynaHistory,
    agent_from_checkpoint,
    agent_to_checkpoint,
    greedy_path_length,
    learned_model,
    new_agent,
    run_episodes,
)
from dreamlab.envs import DYNA_MAZE, make_env, transition_table
from dreamlab.rollout import rollout


def run(env_name: str, cfg: DynaConfig):
    env = make_env(env_name)
    agent = new_agent(env.observation_space.n, env.action_space.n, cfg.seed)
    history = run_episodes(agent, env, cfg, DynaHistory())
    return agent, history, env


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_episode_is_identical_for_every_n(seed: int) -> None:
    firsts = set()
    for n in (0, 5, 50):
        _, history, _ = run("dyna_maze", DynaConfig(planning_steps=n, episodes=1, seed=seed))
        firsts.add(history.episode_steps[0])
    assert len(firsts) == 1


def test_after_episode_one_with_n0_only_q_of_1_8_up_is_nonzero() -> None:
    agent, _, _ = run("dyna_maze", DynaConfig(planning_steps=0, episodes=1, seed=3))
    q = np.array(agent.q)
    nonzero = np.argwhere(q != 0)
    assert nonzero.tolist() == [[DYNA_MAZE.index((1, 8)), 0]]  # action 0 is up
    assert q[DYNA_MAZE.index((1, 8)), 0] == pytest.approx(0.1)


def test_planning_speeds_up_learning() -> None:
    """Figure 8.2 in small: averaged over 10 runs, n = 50 is near optimal by episode 4, n = 0 is not."""
    steps = {
        n: np.mean(
            [
                run("dyna_maze", DynaConfig(planning_steps=n, episodes=10, seed=s))[1].episode_steps
                for s in range(10)
            ],
            axis=0,
        )
        for n in (0, 50)
    }
    assert steps[50][3] < 20
    assert steps[0][9] > 40


def test_learned_model_is_a_world_model_that_matches_the_truth() -> None:
    agent, _, env = run("dyna_maze", DynaConfig(planning_steps=5, episodes=20, seed=0))
    model = learned_model(agent)
    nxt, rew, _term = transition_table(DYNA_MAZE)
    known = model.known.numpy()
    assert known.sum() > 50  # it has seen a good part of the maze
    assert (model.next_state.numpy()[known] == nxt[known]).all()
    assert (model.reward.numpy()[known] == rew[known]).all()
    # Imagine the greedy path through the model: it reaches the goal in the shortest number of steps.
    q = torch.tensor(agent.q)
    start = model.initial(torch.tensor([DYNA_MAZE.index(DYNA_MAZE.start)]))
    traj = rollout(model, start, lambda s, _t: q[s.z].argmax(-1), horizon=14)
    assert traj.states.z[0, -1].item() == DYNA_MAZE.index(DYNA_MAZE.goal)
    assert traj.reward[0].tolist() == [0.0] * 13 + [1.0]
    assert traj.cont[0, -1].item() == 0.0
    assert greedy_path_length(agent, env) == 14


def test_dyna_q_plus_finds_the_shortcut_and_dyna_q_does_not() -> None:
    """Figure 8.5: only a path shorter than the old 16 steps collects > 1000/16 rewards in 1000 steps."""
    cfg = DynaConfig(planning_steps=50, alpha=1.0, kappa=1e-3, episodes=100_000, max_steps=6000)
    last = {}
    for variant in ("dyna_q", "dyna_q_plus"):
        for seed in range(3):
            _, history, _ = run("shortcut_maze", replace(cfg, variant=variant, seed=seed))
            cumulative = history.cumulative_reward()
            last[variant, seed] = cumulative[-1] - cumulative[-1001]
    assert all(last["dyna_q_plus", s] > 1000 / 16 for s in range(3)), last
    assert all(last["dyna_q", s] < 1000 / 16 for s in range(3)), last


def test_prioritized_sweeping_needs_fewer_updates() -> None:
    def updates_to_optimal(variant: str, seed: int) -> int:
        env, probe = make_env("dyna_maze"), make_env("dyna_maze")
        agent = new_agent(54, 4, seed)
        cfg = DynaConfig(variant=variant, planning_steps=5, alpha=1.0, episodes=300, seed=seed)
        run_episodes(
            agent, env, cfg, DynaHistory(), lambda a, _h: greedy_path_length(a, probe) == 14
        )
        return agent.updates

    ps = np.median([updates_to_optimal("prioritized_sweeping", s) for s in range(5)])
    dq = np.median([updates_to_optimal("dyna_q", s) for s in range(5)])
    assert ps < dq / 5


def test_checkpoint_round_trip_is_exact_and_continues_identically() -> None:
    cfg = DynaConfig(variant="prioritized_sweeping", planning_steps=5, episodes=6, seed=4)
    agent, history, env = run("dyna_maze", cfg)
    tensors, meta = agent_to_checkpoint(agent, history)
    clone, clone_history = agent_from_checkpoint(tensors, meta)
    assert clone.q == agent.q and clone.queue == agent.queue and clone.queued == agent.queued
    assert clone.predecessors == agent.predecessors and clone_history == history
    longer = DynaConfig(**{**cfg.__dict__, "episodes": 12})
    run_episodes(agent, env, longer, history)
    run_episodes(clone, make_env("dyna_maze"), longer, clone_history)
    assert clone.q == agent.q and clone_history == history
