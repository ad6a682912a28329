"""DreamerV3 from 64x64 pixels: DMC cartpole_balance against a random policy, with its imagination.

    python benchmarks/dreamer_pixels.py                 # 50k environment steps, about 1.5 h on one core
    python benchmarks/dreamer_pixels.py --steps 20000   # a shorter budget

The ``1m`` preset with ``pixels`` on (frames rendered by MuJoCo, stored as uint8), action repeat 2,
train ratio 64 (the paper: 512; see the DMC benchmark), evaluated every 10,000 environment steps
on 10 episodes (fixed seeds 1,000,000 + i, the policy's mode); a uniform random policy plays the
same 10 episodes. The trained model's open-loop imagination (5 context frames, then predicted
from the actions alone) is written next to the truth. Writes docs/results/dreamer_pixels.{json,
md,png} and dreamer_pixels_imagination.gif; the run folder runs/bench/dreamer_pixels/ resumes if
killed.

Scale against the paper: the paper's DMC vision runs use the 12m model for 1M steps on a GPU
(cartpole_balance 886-980 at 100k); here the 1m model on one CPU core at the budget given.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dreamer_runs import Job, run_all
from dreamlab.algos.dreamer.config import PRESETS
from dreamlab.algos.dreamer.train import EVAL_SEED
from dreamlab.algos.dreamer.video import imagination_video
from dreamlab.envs import make_env
from dreamlab.eval.results import now, spread, write_report, write_results
from dreamlab.train.config import config_to_dict
from dreamlab.train.run import RunDir
from dreamlab.viz.plots import save_figure

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"
TASK = "dmc/cartpole_balance"


def random_returns(episodes: int, action_repeat: int) -> list[float]:
    """A uniform random policy on the evaluation episodes (proprio env: same dynamics, no render)."""
    env = make_env(TASK)
    rng = np.random.default_rng(0)
    out = []
    for i in range(episodes):
        env.reset(seed=EVAL_SEED + i)
        total, done = 0.0, False
        while not done:
            action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
            for _ in range(action_repeat):
                _, r, term, trunc, _ = env.step(action)
                total += r
                done = term or trunc
                if done:
                    break
        out.append(total)
    env.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/bench", help="where the run folder lives")
    parser.add_argument("--steps", type=int, default=50_000)
    args = parser.parse_args(argv)
    started, t0 = now(), time.time()
    cfg = replace(
        PRESETS["1m"],
        pixels=True,
        action_repeat=2,
        train_ratio=64.0,
        env_steps=args.steps,
        eval_every=10_000,
        eval_episodes=10,
    )
    root = Path(args.runs) / "dreamer_pixels"
    summary = run_all(root, [Job("cartpole_balance", TASK, cfg)], parallel=1)["cartpole_balance"]
    run = RunDir(root / "cartpole_balance")
    picture = imagination_video(run, frames=60, seed=EVAL_SEED)
    shutil.copyfile(picture["path"], OUT / "dreamer_pixels_imagination.gif")
    rand = spread(random_returns(cfg.eval_episodes, cfg.action_repeat))
    last = summary["curve"][-1]
    metrics = {
        "task": TASK,
        "env_steps": last["env_steps"],
        "return": {"mean": last["return"], "std": last["return_std"], "n": cfg.eval_episodes},
        "random_return": rand,
        "wall_hours": summary["minutes"] / 60,
        "open_loop_mae_per_pixel": picture["open_loop_mae"],
        "curve": summary["curve"],
        "config": config_to_dict(cfg),
    }
    command = "python benchmarks/" + Path(__file__).name
    command += (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    record = write_results(
        OUT / "dreamer_pixels.json", "dreamer_pixels", command, started, time.time() - t0,
        [cfg.seed], metrics,
    )  # fmt: skip
    fig, ax = plt.subplots(figsize=(6, 4))
    c = summary["curve"]
    ax.plot([p["env_steps"] for p in c], [p["return"] for p in c], marker="o", label="DreamerV3 1m")
    ax.axhline(rand["mean"], color="0.5", ls="--", label="random policy")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return, 10 episodes")
    ax.set_title("DreamerV3 on cartpole_balance from 64x64 pixels")
    ax.legend()
    save_figure(fig, OUT / "dreamer_pixels.png")
    rows = [
        ("return at the end of the budget", "return", "above random"),
        ("random policy, same episodes", "random_return", "-"),
        ("wall hours", "wall_hours", "-"),
    ]
    notes = [
        "![learning curve](dreamer_pixels.png)",
        "![open-loop imagination: real | reconstruction | imagined after 5 frames]"
        "(dreamer_pixels_imagination.gif)",
        "Scale: " + (__doc__ or "").split("Scale against the paper: ")[1].strip(),
    ]
    write_report(OUT / "dreamer_pixels.md", record, "DreamerV3 from pixels", rows, notes)
    print({k: v for k, v in metrics.items() if k not in ("curve", "config")})


if __name__ == "__main__":
    main()
