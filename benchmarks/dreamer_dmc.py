"""DreamerV3 on DeepMind Control from proprioception: cartpole_swingup (3 seeds) and
cartpole_balance, 100k environment steps each, against the paper's 5-seed ranges.

    python benchmarks/dreamer_dmc.py --only swingup:0,swingup:1   # two runs side by side, < 2 h
    python benchmarks/dreamer_dmc.py --only swingup:2,balance:0
    python benchmarks/dreamer_dmc.py --report                     # tables and plots from finished runs

Every run: the ``1m`` preset with the paper's DMC action repeat 2 and train ratio 64 (the paper:
512; an update of the 1m model takes ~1.3-1.6 s on one core here, so 512 would need ~10 h per run
and 64 is the largest that fits the 2-hour bar),
evaluated every 10,000 environment steps on 10 episodes (fixed seeds 1,000,000 + i, the policy's
mode). Two runs share the machine, one core each. Writes docs/results/dreamer_dmc.{json,md,png} from
every finished run; run folders in runs/bench/dreamer_dmc/ (a killed run resumes).

Scale against the paper: the paper's proprioceptive DMC runs use the 12m model (size1m for some)
on a GPU; here the 1m model on one CPU core per run, the same hyperparameters otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt

from dreamer_runs import Job, finished, run_all
from dreamlab.algos.dreamer.config import PRESETS
from dreamlab.eval.results import now, write_report, write_results
from dreamlab.train.config import config_to_dict
from dreamlab.viz.plots import save_figure

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"
TASKS = {"swingup": "cartpole_swingup", "balance": "cartpole_balance"}
PLAN = ["swingup:0", "swingup:1", "swingup:2", "balance:0"]
# the paper's 5-seed range at 100k steps (min, max), Hafner et al. 2025
OFFICIAL = {"cartpole_swingup": (502, 599), "cartpole_balance": (752, 966)}
BARS = {"cartpole_swingup": 500, "cartpole_balance": 750}
STEPS = 100_000
TRAIN_RATIO = 64.0  # replayed steps per policy step; 3,125 updates in 100k env steps


def job(spec: str) -> Job:
    """``swingup:0`` -> the run of cartpole_swingup with seed 0."""
    task, seed = spec.split(":")
    cfg = replace(
        PRESETS["1m"],
        action_repeat=2,
        train_ratio=TRAIN_RATIO,
        env_steps=STEPS,
        eval_every=10_000,
        eval_episodes=10,
        seed=int(seed),
    )
    return Job(f"{TASKS[task]}_seed{seed}", f"dmc/{TASKS[task]}", cfg)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/bench", help="where the run folders live")
    parser.add_argument("--only", default="", help="runs to train now, e.g. swingup:0,balance:0")
    parser.add_argument("--report", action="store_true", help="only rebuild the report")
    args = parser.parse_args(argv)
    started, t0 = now(), time.time()
    root = Path(args.runs) / "dreamer_dmc"
    if not args.report:
        run_all(root, [job(s) for s in (args.only.split(",") if args.only else PLAN)])
    runs = finished(root, [job(s).name for s in PLAN])
    metrics: dict = {"env_steps": STEPS, "official_range_100k": OFFICIAL}
    for task in TASKS.values():
        entries = {}
        for name, r in runs.items():
            if name.startswith(task):
                last = r["curve"][-1]
                entries[name.split("_")[-1]] = {
                    "return_100k": last["return"] if last["env_steps"] >= STEPS else None,
                    "return_100k_std": last["return_std"],
                    "wall_hours": r["minutes"] / 60,
                    "updates": r["updates"],
                }
        metrics[task] = {
            "seeds": entries,
            "bar": BARS[task],
            "seeds_at_or_above_bar": sum(
                1 for e in entries.values() if (e["return_100k"] or 0) >= BARS[task]
            ),
            "all_under_2_hours": all(e["wall_hours"] < 2 for e in entries.values()),
        }
    metrics["curves"] = {k: r["curve"] for k, r in runs.items()}
    metrics["config"] = config_to_dict(job(PLAN[0]).cfg)
    command = "python benchmarks/" + Path(__file__).name
    command += (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    seeds = sorted({int(s.split(":")[1]) for s in PLAN})
    record = write_results(
        OUT / "dreamer_dmc.json", "dreamer_dmc", command, started, time.time() - t0, seeds, metrics
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, task in zip(axes, TASKS.values(), strict=True):
        lo, hi = OFFICIAL[task]
        ax.axhspan(lo, hi, color="0.85", label="paper, 5 seeds at 100k")
        for name, r in runs.items():
            if name.startswith(task):
                c = r["curve"]
                ax.plot(
                    [p["env_steps"] for p in c],
                    [p["return"] for p in c],
                    marker="o",
                    label=name.split("_")[-1],
                )
        ax.set_title(f"DreamerV3 (1m) on {task}")
        ax.set_xlabel("environment steps")
        ax.set_ylabel("return, 10 episodes")
        ax.legend(fontsize=7)
    save_figure(fig, OUT / "dreamer_dmc.png")
    rows = [
        ("cartpole_swingup: seeds >= 500 at 100k", "cartpole_swingup", "3 of 3; paper 502-599"),
        ("cartpole_balance: seeds >= 750 at 100k", "cartpole_balance", "paper 752-966"),
    ]
    notes = [
        "![learning curves against the paper's range](dreamer_dmc.png)",
        "Scale: " + (__doc__ or "").split("Scale against the paper: ")[1].strip(),
    ]
    write_report(OUT / "dreamer_dmc.md", record, "DreamerV3 on DMC (proprio)", rows, notes)
    print({k: v for k, v in metrics.items() if k not in ("curves", "config")})


if __name__ == "__main__":
    main()
