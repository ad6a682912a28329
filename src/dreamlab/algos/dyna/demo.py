"""``dreamlab demo``: Dyna learns a world model of a maze in seconds, then dreams next to reality.

1. Dyna-Q with n = 0, 5 and 50 planning steps learns the Dyna Maze (Figure 8.2 in miniature).
2. The learned table, as a WorldModel, imagines the greedy path; reality runs the same policy.
3. In the blocking maze the world changes under the model: its dream walks the old short path
   while reality is blocked, which is exactly the error Dyna-Q+ exists to find.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from dreamlab.algos.dyna.config import DynaConfig
from dreamlab.algos.dyna.train import DynaAgent, DynaHistory, learned_model, new_agent, run_episodes
from dreamlab.envs import make_env
from dreamlab.rollout import rollout
from dreamlab.viz.plots import save_figure
from dreamlab.viz.video import side_by_side, write_video

__all__ = ["demo", "dream_and_reality"]

CELL = 24  # pixels per maze cell in the pictures


def _learn(env_name: str, cfg: DynaConfig, **env_kwargs: Any) -> tuple[DynaAgent, DynaHistory, Any]:
    env = make_env(env_name, **env_kwargs)
    agent = new_agent(env.observation_space.n, env.action_space.n, cfg.seed)
    history = run_episodes(agent, env, cfg, DynaHistory())
    return agent, history, env


def dream_and_reality(agent: DynaAgent, env: Any, horizon: int = 30) -> tuple[list[int], list[int]]:
    """The greedy path imagined by the learned model, and the one the real env takes (state indices).

    Both start at the env's start state and follow argmax Q; the dream stops where the model says
    the episode ends, reality where the env does.
    """
    model = learned_model(agent)
    q = torch.tensor(agent.q)  # [S, A]
    obs, _ = env.reset()
    greedy = lambda state, _t: q[state.z].argmax(dim=-1)  # noqa: E731
    traj = rollout(model, model.initial(torch.tensor([obs])), greedy, horizon)
    dream = traj.states.z[0].tolist()  # [H + 1]
    alive = torch.cumprod(traj.cont[0], 0)  # [H]: still going after each step
    dream = dream[: int(alive.sum()) + 2]
    real = [int(obs)]
    for _ in range(horizon):
        obs, _, terminated, truncated, _ = env.step(int(q[real[-1]].argmax()))
        real.append(int(obs))
        if terminated or truncated:
            break
    return dream, real


def _frames(layout: Any, path: list[int]) -> list[np.ndarray]:
    """One picture per step: the agent, the trail so far as dots, the grid lines, a border."""
    frames = []
    for t in range(len(path)):
        frame = layout.render_rgb(agent=layout.position(path[t]), cell=CELL).copy()
        frame[::CELL, :] = frame[:, ::CELL] = (215, 215, 215)  # grid lines
        half = CELL // 2
        for s in path[:t]:
            r, c = layout.position(s)
            frame[
                r * CELL + half - 2 : r * CELL + half + 2, c * CELL + half - 2 : c * CELL + half + 2
            ] = (
                70,
                110,
                230,
            )
        frames.append(np.pad(frame, ((2, 2), (2, 2), (0, 0)), constant_values=60))
    return frames


def _ascii(layout: Any, path: list[int]) -> list[str]:
    rows = [list(line) for line in layout.render_ascii().splitlines()]
    for s in path[1:-1]:
        r, c = layout.position(s)
        if rows[r][c] in ".#":
            rows[r][c] = "*" if rows[r][c] == "." else "!"  # "!": a step through a wall
    return ["".join(row) for row in rows]


def demo(out: Path) -> dict[str, Any]:
    """Train, plot the learning curves, and write dream-versus-reality videos into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}

    # 1. Figure 8.2 in miniature: planning makes learning fast.
    curves = {}
    for n in (0, 5, 50):
        agent, history, env = _learn("dyna_maze", DynaConfig(planning_steps=n, episodes=30, seed=0))
        curves[n] = history.episode_steps
        summary[f"dyna_maze n={n}: steps in episodes 1-10"] = history.episode_steps[:10]
    fig, ax = plt.subplots(figsize=(6, 4))
    for n, steps in curves.items():
        ax.plot(range(1, len(steps) + 1), steps, label=f"n = {n} planning steps")
    ax.set(
        xlabel="episode",
        ylabel="steps per episode",
        yscale="log",
        title="Dyna-Q on the Dyna Maze (1 run)",
    )
    save_figure(fig, out / "learning_curves.png")

    # 2. The learned model dreams the path; reality follows the same policy.
    dream, real = dream_and_reality(agent, env)
    layout = env.unwrapped.layout
    frames = side_by_side(
        [_frames(layout, real), _frames(layout, dream)], ["reality", "dream (learned model)"]
    )
    write_video(out / "dream_dyna_maze.gif", frames, fps=4)
    summary["dyna_maze: real path steps"] = len(real) - 1
    summary["dyna_maze: dreamed path steps"] = len(dream) - 1
    print(
        "\nDyna Maze after 30 episodes, n = 50.  reality | dream (* path, S start, G goal, # wall)"
    )
    for a, b in zip(_ascii(layout, real), _ascii(layout, dream), strict=True):
        print(f"  {a}   |   {b}")

    # 3. The world changes under the model: the blocking maze just after its wall moved.
    # The wall moves at step 2000 here (the book: 1000), so the model has learned the old maze well.
    cfg = DynaConfig(planning_steps=10, alpha=1.0, episodes=10_000, max_steps=2000, seed=0)
    agent, _, env = _learn("blocking_maze", cfg, change_at=2000)
    dream, real = dream_and_reality(agent, env, horizon=40)
    new_layout = env.unwrapped.layout
    frames = side_by_side(
        [_frames(new_layout, real), _frames(new_layout, dream)],
        ["reality (wall moved)", "dream (model of the old maze)"],
    )
    write_video(out / "dream_blocking_maze.gif", frames, fps=4)
    print("\nBlocking maze at step 2000, just after the wall moved.  reality | dream")
    for a, b in zip(_ascii(new_layout, real), _ascii(new_layout, dream), strict=True):
        print(f"  {a}   |   {b}")
    print("  The dream walks through the gap that closed (!); reality is stuck at the new wall.\n")
    summary["blocking_maze: dreamed path steps (old world)"] = len(dream) - 1
    summary["blocking_maze: real greedy path reaches goal"] = (
        env.unwrapped.layout.index(env.unwrapped.layout.goal) in real
    )
    summary["pictures"] = ["learning_curves.png", "dream_dyna_maze.gif", "dream_blocking_maze.gif"]
    return summary
