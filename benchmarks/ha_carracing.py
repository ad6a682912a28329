"""World Models on CarRacing-v3: random, V-only (z) and full (z, h) controllers, evolved in the real game.

    python benchmarks/ha_carracing.py     # about 2 hours on a 2-core laptop CPU

V and M are trained once (random rollouts, the paper's architectures); then CMA-ES evolves two
controllers in the real game, one reading z only and one reading [z, h]; all three policies play
the same 100 fixed tracks. Writes docs/results/ha_carracing.{json,md,png}; the run folder
(runs/bench/ha_carracing) resumes if killed.

Scale against the paper: 100 random rollouts instead of 10,000, V 2,000 steps, M 400 steps,
CMA-ES population 16 x 1 track for 30 generations instead of 64 x 16 tracks for about 2,000
generations, on 2 CPU cores instead of 64.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from dreamlab.algos.ha_world_models import train as T
from dreamlab.algos.ha_world_models.config import PRESETS, HaConfig
from dreamlab.algos.ha_world_models.rollouts import make_game
from dreamlab.eval.results import now, spread, write_report, write_results
from dreamlab.train.config import config_to_dict
from dreamlab.train.progress import track
from dreamlab.train.run import RunDir, create_run, read_metrics
from dreamlab.viz.plots import save_figure

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"
ENV = "CarRacing-v3"
PAPER = {"z_only": (632, 251), "full": (906, 21), "random": None}


def random_scores(cfg: HaConfig, episodes: int) -> list[float]:
    """Uniform random actions (env's own space) on the evaluation tracks."""
    env = make_game(ENV, cfg)
    env.action_space.seed(0)
    scores = []
    for i in track(range(episodes), "random policy"):
        env.reset(seed=T.EVAL_SEED + i)
        score = 0.0
        for _ in range(cfg.max_frames):
            _, r, terminated, truncated, _ = env.step(env.action_space.sample())
            score += float(r)
            if terminated or truncated:
                break
        scores.append(score)
    env.close()
    return scores


def controller(cfg: HaConfig, run: RunDir, name: str, episodes: int) -> dict:
    """Evolve (or resume) one controller in the real game and score it on the fixed tracks."""
    t0 = time.time()
    if not (run.path / f"{name}_eval.json").exists():
        T.evolve(cfg, ENV, run, resume=True, name=name)
        T.evaluate_stage(cfg, ENV, run, name=name, episodes=episodes)
    result = json.loads((run.path / f"{name}_eval.json").read_text())
    return {"real_return": result["real_return"], "seconds": time.time() - t0}


def plot(run: RunDir, names: list[str], path: Path) -> None:
    rows = read_metrics(run)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        for stat, style in (("mean", "-"), ("best", ":")):
            key = f"{name}/{stat}"
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=f"{name} ({stat} of population)")
    ax.axhline(900, color="g", ls=":", label="solved (900)")
    ax.set_xlabel("CMA-ES generation")
    ax.set_ylabel("return on the generation's track")
    ax.set_title("Evolving C in CarRacing-v3")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/bench", help="where the run folder lives")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args(argv)
    started, t0 = now(), time.time()
    cfg = PRESETS["carracing"]
    torch.set_num_threads(cfg.threads)
    folder = Path(args.runs) / "ha_carracing"
    if folder.exists():
        run = RunDir(folder)
    else:
        run = create_run(Path(args.runs), "world_models", ENV, config_to_dict(cfg), "ha_carracing")
    # V and M once (stages collect .. rnn); the two controllers below share them.
    for stage in ("collect", "vae", "encode", "rnn"):
        if stage not in T._stages(run):
            t = time.time()
            {
                "collect": lambda: T.collect(cfg, ENV, run),
                "vae": lambda: T.train_vae(cfg, run, True),
                "encode": lambda: T.encode(cfg, run),
                "rnn": lambda: T.train_rnn(cfg, run, True),
            }[stage]()
            T._mark_done(run, stage, time.time() - t)
    z_only = controller(replace(cfg, controller_reads_h=False), run, "z_only", args.episodes)
    full = controller(cfg, run, "full", args.episodes)
    stages = T._stages(run)
    metrics = {
        "random_return": spread(random_scores(cfg, args.episodes)),
        "z_only_return": z_only["real_return"],
        "full_return": full["real_return"],
        "z_only_seconds": z_only["seconds"],
        "full_seconds": full["seconds"],
        "stage_seconds": stages,
        "config": config_to_dict(cfg),
        "paper": {
            "z_only_return": {"mean": 632, "std": 251},
            "full_return": {"mean": 906, "std": 21},
        },
    }
    ordering = (
        metrics["full_return"]["mean"] >= metrics["z_only_return"]["mean"]
        and metrics["z_only_return"]["mean"] > metrics["random_return"]["mean"] + 100
    )
    metrics["ordering_full_ge_z_only_gg_random"] = ordering
    command = "python benchmarks/" + Path(__file__).name
    command += (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    wall = time.time() - t0
    metrics["wall_seconds"] = wall
    record = write_results(
        OUT / "ha_carracing.json", "ha_carracing", command, started, wall, [cfg.seed], metrics
    )
    plot(run, ["z_only", "full"], OUT / "ha_carracing.png")
    rows = [
        ("random policy, 100 tracks", "random_return", "-"),
        ("V only: C on z, 100 tracks", "z_only_return", "632 +- 251"),
        ("full: C on [z, h], 100 tracks", "full_return", "906 +- 21"),
        ("full >= V only >> random", "ordering_full_ge_z_only_gg_random", "true"),
    ]
    notes = [
        "![evolution](ha_carracing.png)",
        "Returns are mean +- std over the same 100 fixed tracks (seeds 1,000,000 + i) for every policy.",
        "Scale: " + (__doc__ or "").split("Scale against the paper: ")[1].strip(),
    ]
    write_report(
        OUT / "ha_carracing.md", record, "World Models on CarRacing-v3", rows, notes, "paper"
    )
    print(f"wrote {OUT / 'ha_carracing.json'}")


if __name__ == "__main__":
    main()
