"""Planning with the simulator as the world model: MPC returns, Two-Rooms success, batched throughput,
and the speed of the procedural data generators.

    python benchmarks/planning.py            # about 10 minutes on a 2-core laptop CPU

Writes docs/results/planning.json and planning.md. Scale: Pendulum-v1 over 20 fixed seeds, the
MuJoCo task over 5 seeds (random policy over 20), Two-Rooms over 100 episodes with random walls.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dreamlab.envs import make_env
from dreamlab.envs.sprites import generate_sprites
from dreamlab.envs.two_rooms import generate_two_rooms
from dreamlab.eval.planning import mpc_episode, plan_settings
from dreamlab.eval.results import now, spread, write_report, write_results
from dreamlab.sim import SimulatorModel
from dreamlab.train.progress import track

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"


def mpc_returns(env_name: str, seeds: range) -> tuple[list[float], list[bool | None], float]:
    """Return and success of one MPC episode per seed, and the mean seconds per episode."""
    settings = plan_settings(env_name)
    start = time.perf_counter()
    results = [mpc_episode(env_name, settings, seed) for seed in track(seeds, f"MPC on {env_name}")]
    seconds = (time.perf_counter() - start) / len(results)
    return [r.ret for r in results], [r.success for r in results], seconds


def random_returns(env_name: str, seeds: range) -> list[float]:
    """Return of a uniformly random policy, one episode per seed."""
    returns = []
    for seed in seeds:
        env = make_env(env_name)
        env.action_space.seed(seed)
        env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        env.close()
    return returns


def throughput(env_name: str, candidates: int, steps: int) -> dict[str, float]:
    """Simulated candidate-steps per second, batched backend vs the naive one-env-at-a-time loop,
    on the same start states and the same actions, in one run."""
    env = make_env(env_name)
    env.reset(seed=0)
    rates = {}
    for backend in ("batched", "loop"):
        model = SimulatorModel.for_env(env_name, backend=backend)
        state = model.capture(env).repeat(candidates)
        generator = torch.Generator().manual_seed(0)
        low = torch.as_tensor(env.action_space.low, dtype=torch.float64)
        high = torch.as_tensor(env.action_space.high, dtype=torch.float64)
        actions = low + (high - low) * torch.rand(
            steps, candidates, low.numel(), generator=generator
        )
        start = time.perf_counter()
        for t in range(steps):
            state, _ = model.step(state, actions[t])
        rates[backend] = candidates * steps / (time.perf_counter() - start)
    env.close()
    return {
        "batched": rates["batched"],
        "loop": rates["loop"],
        "ratio": rates["batched"] / rates["loop"],
    }


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pendulum-seeds", type=int, default=20)
    parser.add_argument("--mujoco-env", default="InvertedPendulum-v5")
    parser.add_argument("--mujoco-seeds", type=int, default=5)
    parser.add_argument("--tworooms-episodes", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(
        1
    )  # small batched models: one thread is faster and leaves a core to MuJoCo
    started, t0 = now(), time.perf_counter()
    metrics: dict[str, object] = {}

    returns, _, seconds = mpc_returns("Pendulum-v1", range(args.pendulum_seeds))
    metrics["pendulum_mpc_return"] = spread(returns)
    metrics["pendulum_mpc_seconds_per_episode"] = round(seconds, 2)
    metrics["pendulum_random_return"] = spread(random_returns("Pendulum-v1", range(20)))

    returns, _, seconds = mpc_returns(args.mujoco_env, range(args.mujoco_seeds))
    metrics["mujoco_env"] = args.mujoco_env
    metrics["mujoco_mpc_return"] = spread(returns)
    metrics["mujoco_mpc_seconds_per_episode"] = round(seconds, 2)
    metrics["mujoco_random_return"] = spread(random_returns(args.mujoco_env, range(20)))

    _, successes, seconds = mpc_returns("two-rooms", range(args.tworooms_episodes))
    metrics["tworooms_sim_success_rate"] = float(np.mean([bool(s) for s in successes]))
    metrics["tworooms_episodes"] = len(successes)
    metrics["tworooms_seconds_per_episode"] = round(seconds, 2)

    for name, env_name in (("pendulum", "Pendulum-v1"), ("mujoco", "HalfCheetah-v5")):
        rates = throughput(env_name, candidates=512, steps=20)
        metrics[f"{name}_batched_candidate_steps_per_second"] = round(rates["batched"])
        metrics[f"{name}_loop_candidate_steps_per_second"] = round(rates["loop"])
        metrics[f"{name}_batched_vs_naive_speedup"] = round(rates["ratio"], 2)
    metrics["batched_vs_naive_speedup"] = metrics["mujoco_batched_vs_naive_speedup"]

    metrics["tworooms_10k_trajectories_seconds"] = round(
        timed(generate_two_rooms, 10_000, 17, seed=0), 2
    )
    metrics["sprites_10k_trajectories_seconds"] = round(
        timed(generate_sprites, 10_000, 17, seed=0), 2
    )
    metrics["settings"] = {
        name: str(plan_settings(name)) for name in ("Pendulum-v1", args.mujoco_env, "two-rooms")
    }

    record = write_results(
        args.out / "planning.json",
        benchmark="planning",
        command="python benchmarks/planning.py " + " ".join(sys.argv[1:]),
        started=started,
        wall_seconds=time.perf_counter() - t0,
        seeds=list(range(max(args.pendulum_seeds, args.tworooms_episodes, 20))),
        metrics=metrics,
    )
    write_table(record, args.out / "planning.md")
    for key, value in record["metrics"].items():
        print(f"{key}: {value}")


def write_table(record: dict, path: Path) -> None:
    """The headline numbers next to their targets, with the run's provenance."""
    m = record["metrics"]
    rows = [
        ("Pendulum-v1 MPC return (20 seeds)", "pendulum_mpc_return", ">= -200"),
        ("Pendulum-v1 random policy return", "pendulum_random_return", ""),
        (f"{m['mujoco_env']} MPC return", "mujoco_mpc_return", "clearly above random"),
        (f"{m['mujoco_env']} random policy return (20 seeds)", "mujoco_random_return", ""),
        ("Two-Rooms (random wall) MPC success rate", "tworooms_sim_success_rate", ">= 0.95"),
        ("Two-Rooms episodes", "tworooms_episodes", "100"),
        ("Two-Rooms seconds per episode", "tworooms_seconds_per_episode", ""),
        ("Pendulum: batched candidate-steps/s", "pendulum_batched_candidate_steps_per_second", ""),
        (
            "Pendulum: one-env loop candidate-steps/s",
            "pendulum_loop_candidate_steps_per_second",
            "",
        ),
        ("Pendulum: batched / loop", "pendulum_batched_vs_naive_speedup", ""),
        (
            "HalfCheetah-v5: batched candidate-steps/s",
            "mujoco_batched_candidate_steps_per_second",
            "",
        ),
        (
            "HalfCheetah-v5: one-env loop candidate-steps/s",
            "mujoco_loop_candidate_steps_per_second",
            "",
        ),
        ("HalfCheetah-v5: batched / loop", "mujoco_batched_vs_naive_speedup", ""),
        (
            "Two-Rooms: 10,000 trajectories x 17 steps (s)",
            "tworooms_10k_trajectories_seconds",
            "< 60",
        ),
        ("Sprites: 10,000 trajectories x 17 steps (s)", "sprites_10k_trajectories_seconds", "< 60"),
    ]
    notes = [
        "Seeds 0-19 (Pendulum, random policies), 0-4 (MuJoCo MPC), 0-99 (Two-Rooms). Means ± std "
        "over episodes.",
        "Throughput: 512 candidates x 20 steps from the same start state and the same random "
        "actions, batched simulator (vectorised numpy for classic control, MuJoCo's threaded batch "
        "stepping) against restoring and stepping one real env per candidate.",
        "Planner settings: " + "; ".join(f"{k}: {v}" for k, v in m["settings"].items()),
        "Scale: the papers plan Two-Rooms with learned embeddings on a GPU; here the true dynamics "
        "are the model (the reference learned models are later compared with).",
    ]
    write_report(path, record, "Planning with the simulator as the world model", rows, notes)


if __name__ == "__main__":
    main()
