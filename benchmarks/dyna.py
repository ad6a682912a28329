"""Sutton & Barto (2nd ed.) chapter 8 with dreamlab's Dyna: Figures 8.2, 8.4, 8.5 and Example 8.4.

    python benchmarks/dyna.py            # about two minutes on a 2-core laptop CPU

Writes docs/results/dyna.json and the plots beside it. Scale: the book's own (30 runs for Figure
8.2; the book does not give its run counts for the other figures, we use 20 runs and 10 runs per
maze size). Example 8.4 uses the Dyna Maze at 1x, 2x and 3x resolution (47, 188 and 423 free
cells) instead of the book's exact series of sizes, which it does not list.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dreamlab.algos.dyna.config import PRESETS, DynaConfig
from dreamlab.algos.dyna.train import DynaHistory, greedy_path_length, new_agent, run_episodes
from dreamlab.envs import DYNA_MAZE, GridMaze, MazeLayout, make_env
from dreamlab.eval.results import now, spread, write_report, write_results
from dreamlab.train.progress import track
from dreamlab.viz.plots import save_figure

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"


def run_one(env: GridMaze, cfg: DynaConfig, stop=None) -> tuple[DynaHistory, object]:
    """One Dyna run in a fresh copy of the world; returns its history and agent."""
    agent = new_agent(env.observation_space.n, env.action_space.n, cfg.seed)
    return run_episodes(agent, env, cfg, DynaHistory(), stop), agent


# ---------------------------------------------------------------------------------------------
# Figure 8.2: steps per episode for n = 0, 5, 50 on the Dyna Maze, 30 runs.
# ---------------------------------------------------------------------------------------------


def figure_8_2(runs: int, episodes: int) -> tuple[dict[int, np.ndarray], float]:
    """Steps per episode [runs, episodes] for each n, and the wall time of the whole figure."""
    start = time.perf_counter()
    steps = {}
    for n in (0, 5, 50):
        rows = []
        for seed in track(range(runs), f"Figure 8.2, n = {n}"):
            cfg = DynaConfig(planning_steps=n, episodes=episodes, seed=seed)
            history, _ = run_one(make_env("dyna_maze"), cfg)
            rows.append(history.episode_steps)
        steps[n] = np.array(rows)  # [runs, episodes]
    return steps, time.perf_counter() - start


def plot_8_2(steps: dict[int, np.ndarray], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for n, rows in steps.items():
        mean = rows.mean(axis=0)
        episodes = np.arange(1, rows.shape[1] + 1)
        ax.plot(
            episodes[1:],
            mean[1:],
            label=f"{n} planning steps" + (" (direct RL only)" if n == 0 else ""),
        )
    ax.axhline(14, color="grey", lw=0.8, ls=":", label="shortest path (14)")
    ax.set(xlabel="episodes", ylabel="steps per episode", ylim=(0, 800), xlim=(2, rows.shape[1]))
    ax.set_title(f"Figure 8.2: Dyna-Q on the Dyna Maze ({rows.shape[0]} runs)")
    save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# Figures 8.4 and 8.5: cumulative reward of Dyna-Q and Dyna-Q+ in the changing mazes.
# ---------------------------------------------------------------------------------------------


def changing_maze(env_name: str, preset: DynaConfig, runs: int) -> dict[str, np.ndarray]:
    """Per variant: cumulative reward [runs, steps]."""
    out = {}
    for variant in ("dyna_q", "dyna_q_plus"):
        curves = []
        for seed in track(range(runs), f"{env_name}, {variant}"):
            history, _ = run_one(make_env(env_name), replace(preset, variant=variant, seed=seed))
            curves.append(history.cumulative_reward())
        out[variant] = np.array(curves)  # [runs, steps]
    return out


def last_rewards(cumulative: np.ndarray, window: int = 1000) -> np.ndarray:
    """Reward collected in the last ``window`` steps of each run [runs].

    An agent on a path of L steps can collect at most window / L rewards, so more than 1000 / 16
    in the shortcut maze proves a path shorter than the old 16 steps: the shortcut.
    """
    return cumulative[:, -1] - cumulative[:, -window - 1]


def plot_changing(result: dict[str, np.ndarray], change_at: int, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    names = {"dyna_q": "Dyna-Q", "dyna_q_plus": "Dyna-Q+"}
    for variant, curves in result.items():
        ax.plot(np.arange(1, curves.shape[1] + 1), curves.mean(axis=0), label=names[variant])
    ax.axvline(change_at, color="grey", lw=0.8, ls=":", label="the maze changes")
    ax.set(xlabel="time steps", ylabel="cumulative reward", title=title)
    save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# Example 8.4: updates until the greedy path is optimal, prioritized sweeping vs Dyna-Q.
# ---------------------------------------------------------------------------------------------


def scaled(layout: MazeLayout, factor: int) -> MazeLayout:
    """The same maze at a finer resolution: every cell becomes a factor x factor block."""
    walls = frozenset(
        (r * factor + i, c * factor + j)
        for r, c in layout.walls
        for i in range(factor)
        for j in range(factor)
    )
    start = (layout.start[0] * factor, layout.start[1] * factor)
    goal = (layout.goal[0] * factor, layout.goal[1] * factor)
    return MazeLayout(layout.rows * factor, layout.cols * factor, start, goal, walls)


def updates_to_optimal(layout: MazeLayout, cfg: DynaConfig) -> int | None:
    """Q updates made until the greedy policy first follows a shortest path (None: not within budget)."""
    env, probe = GridMaze(layout), GridMaze(layout)
    optimum = layout.shortest_path_length()
    reached = lambda agent, _h: greedy_path_length(agent, probe, limit=4 * optimum) == optimum  # noqa: E731
    _, agent = run_one(env, cfg, reached)
    return agent.updates if reached(agent, None) else None


def example_8_4(
    factors: list[int], runs: int, base: DynaConfig
) -> dict[str, dict[int, list[int | None]]]:
    out: dict[str, dict[int, list[int | None]]] = {}
    for variant in ("prioritized_sweeping", "dyna_q"):
        out[variant] = {}
        for f in factors:
            layout = scaled(DYNA_MAZE, f)
            out[variant][f] = [
                updates_to_optimal(layout, replace(base, variant=variant, seed=seed))
                for seed in track(range(runs), f"Example 8.4, {variant}, {f}x")
            ]
    return out


def plot_8_4(result: dict[str, dict[int, list[int | None]]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    names = {"prioritized_sweeping": "prioritized sweeping", "dyna_q": "Dyna-Q"}
    for variant, by_factor in result.items():
        sizes, medians = [], []
        for f, values in by_factor.items():
            done = [v for v in values if v is not None]
            if done:
                sizes.append(len(scaled(DYNA_MAZE, f).free_states()))
                medians.append(np.median(done))
        ax.plot(sizes, medians, marker="o", label=names[variant])
    ax.set(
        xlabel="gridworld size (free cells)",
        ylabel="updates until optimal solution (median)",
        yscale="log",
        title="Example 8.4: prioritized sweeping on mazes",
    )
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs for Figure 8.2 (the book's 30)")
    parser.add_argument("--maze-runs", type=int, default=20, help="runs for Figures 8.4 and 8.5")
    parser.add_argument(
        "--sweep-runs", type=int, default=10, help="runs per maze size for Example 8.4"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    started, t0 = now(), time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)

    steps, fig_seconds = figure_8_2(args.runs, episodes=50)
    plot_8_2(steps, args.out / "dyna_fig8_2.png")

    blocking = changing_maze("blocking_maze", PRESETS["blocking"], args.maze_runs)
    plot_changing(
        blocking,
        1000,
        f"Figure 8.4: blocking maze ({args.maze_runs} runs)",
        args.out / "dyna_fig8_4.png",
    )
    shortcut = changing_maze("shortcut_maze", PRESETS["shortcut"], args.maze_runs)
    plot_changing(
        shortcut,
        3000,
        f"Figure 8.5: shortcut maze ({args.maze_runs} runs)",
        args.out / "dyna_fig8_5.png",
    )

    sweep_cfg = replace(PRESETS["sweeping"], episodes=1000)
    sweep = example_8_4([1, 2, 3], args.sweep_runs, sweep_cfg)
    plot_8_4(sweep, args.out / "dyna_example8_4.png")

    def reached(values: list[int | None]) -> list[int]:
        return [v for v in values if v is not None]

    found = {v: float(np.mean(last_rewards(shortcut[v]) > 1000 / 16)) for v in shortcut}
    recovered = {v: float(np.mean(last_rewards(blocking[v]) > 0)) for v in blocking}
    metrics = {
        "fig8_2_wall_seconds": round(fig_seconds, 3),
        "n50_steps_episode4": spread(steps[50][:, 3]),
        "n5_steps_episode4": spread(steps[5][:, 3]),
        "n0_steps_episode4": spread(steps[0][:, 3]),
        "n0_steps_episode10": spread(steps[0][:, 9]),
        "n0_steps_episode2": spread(steps[0][:, 1]),
        "n5_steps_episode2": spread(steps[5][:, 1]),
        "n50_steps_episode2": spread(steps[50][:, 1]),
        "first_episode_identical_for_all_n": bool(
            (steps[0][:, 0] == steps[5][:, 0]).all() and (steps[0][:, 0] == steps[50][:, 0]).all()
        ),
        "n50_steps_last10": spread(steps[50][:, -10:].mean(axis=1)),
        "blocking_cumulative_reward_dyna_q": spread(blocking["dyna_q"][:, -1]),
        "blocking_cumulative_reward_dyna_q_plus": spread(blocking["dyna_q_plus"][:, -1]),
        "blocking_recovered_fraction_dyna_q": recovered["dyna_q"],
        "blocking_recovered_fraction_dyna_q_plus": recovered["dyna_q_plus"],
        "shortcut_cumulative_reward_dyna_q": spread(shortcut["dyna_q"][:, -1]),
        "shortcut_cumulative_reward_dyna_q_plus": spread(shortcut["dyna_q_plus"][:, -1]),
        "shortcut_last1000_rewards_dyna_q": spread(last_rewards(shortcut["dyna_q"])),
        "shortcut_last1000_rewards_dyna_q_plus": spread(last_rewards(shortcut["dyna_q_plus"])),
        "shortcut_found_fraction_dyna_q": found["dyna_q"],
        "shortcut_found_fraction_dyna_q_plus": found["dyna_q_plus"],
        "dyna_q_plus_found_shortcut": found["dyna_q_plus"] > 0.5,
        "dyna_q_found_shortcut": found["dyna_q"] > 0.5,
        "prioritized_sweeping_updates": spread(reached(sweep["prioritized_sweeping"][1])),
        "dyna_q_updates": spread(reached(sweep["dyna_q"][1])),
        "prioritized_sweeping_updates_median": float(
            np.median(reached(sweep["prioritized_sweeping"][1]))
        ),
        "dyna_q_updates_median": float(np.median(reached(sweep["dyna_q"][1]))),
    }
    for variant in ("prioritized_sweeping", "dyna_q"):
        for f, values in sweep[variant].items():
            done = reached(values)
            metrics[f"{variant}_updates_{f}x_median"] = float(np.median(done)) if done else None
            metrics[f"{variant}_optimal_fraction_{f}x"] = len(done) / len(values)
    metrics["settings"] = {
        "fig8_2": "gamma 0.95, alpha 0.1, epsilon 0.1, 50 episodes",
        "fig8_4": f"{PRESETS['blocking']}",
        "fig8_5": f"{PRESETS['shortcut']}",
        "example8_4": f"{sweep_cfg}; stop when the greedy path is a shortest path; mazes 1x, 2x, 3x",
        "shortcut_found": "a run found the shortcut if it collected more than 1000/16 rewards in its last "
        "1000 steps (impossible on the old 16-step path)",
        "blocking_recovered": "a run recovered if it collected any reward in its last 1000 steps",
    }
    record = write_results(
        args.out / "dyna.json",
        benchmark="dyna",
        command="python benchmarks/dyna.py " + " ".join(sys.argv[1:]),
        started=started,
        wall_seconds=time.perf_counter() - t0,
        seeds=list(range(max(args.runs, args.maze_runs, args.sweep_runs))),
        metrics=metrics,
    )
    write_table(record, args.out / "dyna.md")
    for key, value in record["metrics"].items():
        if key != "settings":
            print(f"{key}: {value}")


def write_table(record: dict, path: Path) -> None:
    """A readable table of the headline numbers next to the book's, with the run's provenance."""
    m = record["metrics"]
    rows = [
        (
            "Fig 8.2 wall time, 30 runs x 3 n x 50 episodes (s)",
            "fig8_2_wall_seconds",
            "< 60 (target)",
        ),
        (
            "Fig 8.2 first episode identical for n = 0, 5, 50",
            "first_episode_identical_for_all_n",
            "yes",
        ),
        (
            "Fig 8.2 steps in episode 2, n = 0",
            "n0_steps_episode2",
            "~1126 (reference sim.); random walk from start: 869 expected",
        ),
        ("Fig 8.2 steps in episode 2, n = 5", "n5_steps_episode2", "~139"),
        ("Fig 8.2 steps in episode 2, n = 50", "n50_steps_episode2", "~41"),
        ("Fig 8.2 steps in episode 4, n = 50", "n50_steps_episode4", "< 20 (target)"),
        ("Fig 8.2 steps in episode 10, n = 0", "n0_steps_episode10", "> 40 (target)"),
        ("Fig 8.2 mean of episodes 41-50, n = 50", "n50_steps_last10", "16-18 (epsilon 0.1)"),
        (
            "Fig 8.4 cumulative reward at 3000 steps, Dyna-Q",
            "blocking_cumulative_reward_dyna_q",
            "below Dyna-Q+",
        ),
        (
            "Fig 8.4 cumulative reward at 3000 steps, Dyna-Q+",
            "blocking_cumulative_reward_dyna_q_plus",
            "above Dyna-Q",
        ),
        ("Fig 8.4 runs that found the new path, Dyna-Q", "blocking_recovered_fraction_dyna_q", ""),
        (
            "Fig 8.4 runs that found the new path, Dyna-Q+",
            "blocking_recovered_fraction_dyna_q_plus",
            "",
        ),
        (
            "Fig 8.5 rewards in the last 1000 steps, Dyna-Q",
            "shortcut_last1000_rewards_dyna_q",
            "old path: at most 62.5",
        ),
        (
            "Fig 8.5 rewards in the last 1000 steps, Dyna-Q+",
            "shortcut_last1000_rewards_dyna_q_plus",
            "shortcut: above 62.5",
        ),
        ("Fig 8.5 Dyna-Q+ found the shortcut", "dyna_q_plus_found_shortcut", "yes"),
        ("Fig 8.5 Dyna-Q found the shortcut", "dyna_q_found_shortcut", "no"),
        (
            "Ex 8.4 updates to the optimal path, prioritized sweeping (1x)",
            "prioritized_sweeping_updates_median",
            "5-10x fewer than Dyna-Q",
        ),
        ("Ex 8.4 updates to the optimal path, Dyna-Q (1x)", "dyna_q_updates_median", ""),
        (
            "Ex 8.4 median updates, prioritized sweeping (2x maze)",
            "prioritized_sweeping_updates_2x_median",
            "",
        ),
        ("Ex 8.4 median updates, Dyna-Q (2x maze)", "dyna_q_updates_2x_median", ""),
        (
            "Ex 8.4 median updates, prioritized sweeping (3x maze)",
            "prioritized_sweeping_updates_3x_median",
            "",
        ),
        ("Ex 8.4 median updates, Dyna-Q (3x maze)", "dyna_q_updates_3x_median", ""),
    ]
    notes = [
        f"Seeds 0-{max(record['seeds'])}; means ± std over runs.",
        "Settings: " + "; ".join(f"{k}: {v}" for k, v in m["settings"].items()),
        "Example 8.4 medians are over the runs whose greedy path became a shortest path within 1000 "
        "episodes (the fractions are in dyna.json; the rest are exploration-limited: epsilon-greedy "
        "rarely tries the one untried action a shortest path needs). The book's own reference "
        "simulation numbers for episode 2 come from another implementation; the expected random-walk "
        "length from the start, 869 steps, bounds what n = 0 can do in episode 2.",
        "Plots: `dyna_fig8_2.png`, `dyna_fig8_4.png`, `dyna_fig8_5.png`, `dyna_example8_4.png`.",
    ]
    write_report(path, record, "Dyna: Sutton & Barto chapter 8", rows, notes, "book / target")


if __name__ == "__main__":
    main()
