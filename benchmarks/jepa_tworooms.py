"""EB-JEPA, two ablations, a pixel-space baseline and V-JEPA 2-AC planned on Two-Rooms.

Action-conditioned world models trained on random walks and planned to a goal image by MPPI on
Two-Rooms with a random wall.

    python benchmarks/jepa_tworooms.py --only eb_jepa,no_idm       # two runs side by side
    python benchmarks/jepa_tworooms.py --only no_varcov,pixel
    python benchmarks/jepa_tworooms.py --only vjepa2_ac
    python benchmarks/jepa_tworooms.py --report                    # the report from finished runs
    python benchmarks/jepa_tworooms.py --debug                     # a smoke test on the debug presets

Expected time per run on one core, two runs side by side: training ~44 min (EB-JEPA and its
ablations, 6,000 updates), ~35 min (the pixel baseline and V-JEPA 2-AC, 3,000 updates each);
planning 100 episodes ~3 min for EB-JEPA and, when most episodes fail and run all 200 steps,
~1.4 h for the pixel baseline and up to ~1.5 h for V-JEPA 2-AC. EB-JEPA-type runs then plan 50
episodes with perfect imagination and fit a state probe (a few minutes).

Runs (one seed each, the presets of ``dreamlab.algos.jepa_wm.config``):

- ``eb_jepa``: the ``tworooms`` preset (Impala CNN to 128-d, residual MLP predictor, loss
  pred + 16 var + 8 cov + 12 time + 1 idm, rolled out 32 steps on walks of 33 frames).
- ``no_idm``: the same without the inverse-dynamics term; ``no_varcov``: without the variance and
  covariance terms (EB-JEPA ablates them one at a time; here together).
- ``pixel``: the ``tworooms-pixel`` preset, the same encoder and predictor with a frame decoder
  (364,376 parameters against 316,338), planned on the pixel MSE of decoded frames to the goal.
- ``vjepa2_ac``: the ``tworooms-vjepa2ac`` preset, a ViT pretrained in the run with V-JEPA's
  objective and frozen, and a block-causal action-conditioned predictor, planned on token L1.

Each run trains in its own process with one torch thread, two at a time (a spawn pool), then plays
100 episodes of 200 steps: random wall, start and goal in different rooms, episode i seeded with
1,000,000 + i for the environment and the planner, the run's own MPPI settings (200 samples,
horizon 90, 10 iterations for the first plan, then every 4 steps a plan warm-started from the
previous one with 2 iterations, pink-noise samples). The episodes are played in chunks of 10, two
chunks at a time in the same pool (so one run's planning uses both cores), each saved on its own,
so a killed run resumes its training from the last checkpoint and its planning from the chunks
already saved; finished runs are read, not re-run. Run folders in runs/bench/jepa_tworooms/; writes
docs/results/jepa_tworooms.{json,md}.

Scale against the papers: EB-JEPA plans with MPPI over a horizon of 90 with 20 iterations,
replanning every step, white-noise samples; here the same horizon, 10 iterations for an episode's
first plan and then 2 every 4 steps, pink-noise samples. V-JEPA 2-AC freezes a ViT-g pretrained on
over a million hours of video, trains a 300M-parameter predictor on 62 hours of robot video and
plans with CEM over a horizon of 1; here its encoder is pretrained in the run on the random walks,
and it is planned like the others. Every model here has 0.2-0.4M parameters and is sized to train
in under an hour on one core.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dreamlab.algos.jepa_wm.config import PRESETS, JEPAWMConfig
from dreamlab.eval.results import git_commit, now, write_report, write_results
from dreamlab.train.config import config_to_dict
from dreamlab.train.files import atomic_write_text

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"
NAME = "jepa_tworooms"
ENV = "two-rooms"
EVAL_SEED = 1_000_000
EPISODES = 100
CHUNK = 10
"""Planning episodes between saves of the planning results."""
DIAGNOSTIC_EPISODES = 50
"""Episodes planned with perfect imagination (the first 50 of the 100) per EB-JEPA-type run."""
ORDER = ("eb_jepa", "no_idm", "no_varcov", "pixel", "vjepa2_ac")
PREFIX = {
    "eb_jepa": "",
    "no_idm": "no_idm_",
    "no_varcov": "no_varcov_",
    "pixel": "pixel_model_",
    "vjepa2_ac": "vjepa2_ac_",
}
"""Metric-key prefix of each run: the main run's keys carry none."""


@dataclass(frozen=True)
class Job:
    """One run: its folder name, config, and how many planning episodes, saved every ``chunk``."""

    name: str
    cfg: JEPAWMConfig
    episodes: int
    chunk: int


def jobs(debug: bool) -> dict[str, Job]:
    """The five runs; ``debug`` swaps in the debug presets and 2 planning episodes."""
    main = PRESETS["debug" if debug else "tworooms"]
    cfgs = {
        "eb_jepa": main,
        "no_idm": replace(main, use_idm=False),
        "no_varcov": replace(main, use_varcov=False),
        "pixel": PRESETS["debug-pixel" if debug else "tworooms-pixel"],
        "vjepa2_ac": PRESETS["debug-vjepa2ac" if debug else "tworooms-vjepa2ac"],
    }
    episodes, chunk = (2, 1) if debug else (EPISODES, CHUNK)
    # Planning happens here, on 100 fixed episodes, rather than at the end of training.
    return {
        name: Job(name, replace(cfg, eval_episodes=0, threads=1), episodes, chunk)
        for name, cfg in cfgs.items()
    }


def _aggregate(chunks: list[dict[str, float]]) -> dict[str, float]:
    """Planning results of consecutive episode chunks combined as if played in one call."""
    n = sum(c["episodes"] for c in chunks)
    seconds = sum(c["plan_seconds_per_episode"] * c["episodes"] for c in chunks)
    replans = sum(
        c["plan_seconds_per_episode"] * c["episodes"] / c["seconds_per_replan"] for c in chunks
    )
    return {
        "success_rate": sum(c["success_rate"] * c["episodes"] for c in chunks) / n,
        "plan_seconds_per_episode": seconds / n,
        "seconds_per_replan": seconds / replans,
        "mean_steps": sum(c["mean_steps"] * c["episodes"] for c in chunks) / n,
        "episodes": n,
    }


def saved_chunks(folder: Path) -> list[dict[str, Any]]:
    """The planning chunks a run has saved, by first episode: one ``plan/<first>.json`` per chunk
    (and the single ``plan.json`` that earlier versions of this script wrote)."""
    found = {}
    legacy = folder / "plan.json"
    if legacy.exists():
        found = {c["first"]: c for c in json.loads(legacy.read_text())["chunks"]}
    for path in (folder / "plan").glob("*.json"):
        chunk = json.loads(path.read_text())
        found[chunk["first"]] = chunk
    return [found[first] for first in sorted(found)]


def missing_chunks(folder: Path, job: Job) -> list[int]:
    """First episodes of the chunks of ``job`` that are not saved yet."""
    done = {c["first"] for c in saved_chunks(folder)}
    return [first for first in range(0, job.episodes, job.chunk) if first not in done]


def train_job(root: str, job: Job) -> None:
    """Train ``job``, or resume it from its last checkpoint; a finished run is left as it is."""
    import torch

    from dreamlab.algos.jepa_wm import train as T
    from dreamlab.train.run import RunDir, create_run

    torch.set_num_threads(1)
    folder = Path(root) / job.name
    if (folder / "summary.json").exists():
        return
    if folder.exists():
        T.train(job.cfg, ENV, RunDir(folder), resume=True)
    else:
        run = create_run(Path(root), "jepa_wm", ENV, config_to_dict(job.cfg), job.name)
        T.train(job.cfg, ENV, run)


def load_trained(folder: Path) -> tuple[Any, JEPAWMConfig]:
    """The trained model of a run folder and its config, for one torch thread."""
    import torch

    from dreamlab.algos.jepa_wm import train as T
    from dreamlab.train.run import open_run

    model, cfg, _ = T.load_model(open_run(folder)[0])
    torch.set_num_threads(1)
    return model, cfg


def plan_chunk(root: str, job: Job, first: int) -> None:
    """Play episodes ``first`` .. ``first + chunk - 1`` of the trained ``job`` and save their
    scores in ``plan/<first>.json``; episode i is seeded EVAL_SEED + i whoever plays it."""
    from dreamlab.algos.jepa_wm import train as T

    folder = Path(root) / job.name
    model, cfg = load_trained(folder)
    n = min(job.chunk, job.episodes - first)
    scores = T.plan_episodes(model, cfg, n, EVAL_SEED + first, random_wall=True)
    path = folder / "plan" / f"{first:04d}.json"
    path.parent.mkdir(exist_ok=True)
    atomic_write_text(path, json.dumps({**scores, "first": first, "episodes": n}, indent=2) + "\n")


def diagnose_job(root: str, job: Job) -> None:
    """Write ``diagnostics.json`` of a trained run (once)."""
    folder = Path(root) / job.name
    path = folder / "diagnostics.json"
    if path.exists():
        return
    model, cfg = load_trained(folder)
    atomic_write_text(path, json.dumps(diagnose(model, cfg, job), indent=2) + "\n")


def diagnose(model: Any, cfg: JEPAWMConfig, job: Job) -> dict[str, Any]:
    """What the embedding holds (the state probe's error in px per factor, on the frame's
    embedding flattened: V-JEPA 2-AC's is tokens) and, for EB-JEPA-type runs, the success rate
    of the same planner with perfect imagination: the true dynamics in place of the predictor."""
    from dreamlab.algos.jepa_wm.diagnostics import perfect_imagination_episodes, state_probe

    probe = state_probe(lambda frames: model.encode(frames).flatten(1), cfg.obs_mode)
    out: dict[str, Any] = {"probe_rmse_px": probe.rmse, "probe_spread_px": probe.spread}
    if cfg.recipe == "eb_jepa":
        episodes = min(DIAGNOSTIC_EPISODES, job.episodes)
        perfect = perfect_imagination_episodes(model, cfg, episodes, EVAL_SEED)
        out["perfect_imagination_success_rate"] = perfect["success_rate"]
        out["perfect_imagination_episodes"] = perfect["episodes"]
    return out


def run_all(root: Path, todo: list[Job], parallel: int = 2) -> None:
    """Train the jobs, then play their missing planning chunks, then diagnose them: each phase
    ``parallel`` processes at a time, one torch thread each, so one run's planning can use
    every core once the training is done."""
    root.mkdir(parents=True, exist_ok=True)
    if not todo:
        return
    with multiprocessing.get_context("spawn").Pool(parallel) as pool:
        pool.starmap(train_job, [(str(root), j) for j in todo], chunksize=1)
        chunks = [(str(root), j, f) for j in todo for f in missing_chunks(root / j.name, j)]
        pool.starmap(plan_chunk, chunks, chunksize=1)
        pool.starmap(diagnose_job, [(str(root), j) for j in todo], chunksize=1)


def collect(root: Path, all_jobs: dict[str, Job], commit: str) -> dict[str, dict[str, Any]]:
    """The results of every run whose training and planning have finished, by run name: its
    planning scores, training minutes and steps, diagnostics, and the commit that measured it."""
    out = {}
    for name, job in all_jobs.items():
        summary = root / name / "summary.json"
        chunks = saved_chunks(root / name)
        if not summary.exists() or sum(c["episodes"] for c in chunks) < job.episodes:
            continue
        train = json.loads(summary.read_text())
        diag = root / name / "diagnostics.json"
        out[name] = {
            **_aggregate(chunks),
            "train_minutes": train["minutes"],
            "train_steps": train["steps"],
            "embed_std": train["train/embed_std"],
            **(json.loads(diag.read_text()) if diag.exists() else {}),
            "commit": commit,
        }
    return out


def earlier_runs(path: Path, debug: bool) -> dict[str, dict[str, Any]]:
    """The runs recorded in an earlier results file, by name, each with the commit that
    measured it: run folders do not outlive the machine, the measured numbers do."""
    if debug or not path.exists():
        return {}
    record = json.loads(path.read_text())
    runs = record["metrics"].get("runs", {})
    return {name: {"commit": record["commit"], **r} for name, r in runs.items()}


def metrics_of(runs: dict[str, dict[str, Any]], all_jobs: dict[str, Job]) -> dict[str, Any]:
    """The benchmark's metrics: per run ``<prefix>success_rate``, ``<prefix>train_minutes`` and
    ``<prefix>plan_seconds_per_episode`` (None until the run has finished), and the details."""
    metrics: dict[str, Any] = {"episodes_per_run": next(iter(all_jobs.values())).episodes}
    for name in ORDER:
        r = runs.get(name, {})
        prefix = PREFIX[name]
        for key in ("success_rate", "train_minutes", "plan_seconds_per_episode"):
            metrics[prefix + key] = r.get(key)
    main = runs.get("eb_jepa", {})
    metrics["perfect_imagination_success_rate"] = main.get("perfect_imagination_success_rate")
    metrics["door_probe_rmse_px"] = main.get("probe_rmse_px", {}).get("door_y")
    vjepa = runs.get("vjepa2_ac", {}).get("probe_rmse_px", {})
    metrics["vjepa2_ac_dot_probe_rmse_px"] = (
        (vjepa["dot_x"] + vjepa["dot_y"]) / 2 if vjepa else None
    )
    metrics["runs"] = {name: runs[name] for name in ORDER if name in runs}
    metrics["configs"] = {name: config_to_dict(j.cfg) for name, j in all_jobs.items()}
    return metrics


def main(argv: list[str] | None = None) -> None:
    """Train and plan the requested runs, then write the results of every finished run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", default="runs/bench", help="where the run folders live")
    parser.add_argument("--only", default="", help=f"runs to do now, from: {','.join(ORDER)}")
    parser.add_argument("--report", action="store_true", help="only rebuild the report")
    parser.add_argument(
        "--debug", action="store_true", help="debug presets, 2 episodes, results in the runs folder"
    )
    args = parser.parse_args(argv)
    started, t0 = now(), time.time()
    all_jobs = jobs(args.debug)
    names = [n for n in args.only.split(",") if n] if args.only else list(ORDER)
    unknown = [n for n in names if n not in all_jobs]
    if unknown:
        parser.error(f"unknown run(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    root = Path(args.runs) / (NAME + ("_debug" if args.debug else ""))
    if not args.report:
        run_all(root, [all_jobs[n] for n in names])
    out = root if args.debug else OUT  # a smoke test never overwrites the real results
    # A run done here (the --only runs) replaces its earlier record; the others keep theirs.
    earlier = earlier_runs(out / f"{NAME}.json", args.debug)
    measured = collect(root, all_jobs, git_commit())
    finished = {**earlier, **{n: r for n, r in measured.items() if n in names or n not in earlier}}
    metrics = metrics_of(finished, all_jobs)
    # The runs may come from earlier calls (a killed benchmark resumes; --report only reads), so
    # the wall time recorded is the runs' own: training plus planning, summed over runs.
    wall = sum(
        r["train_minutes"] * 60 + r["plan_seconds_per_episode"] * r["episodes"]
        for r in finished.values()
    )
    command = "python benchmarks/" + Path(__file__).name
    command += (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    seeds = sorted({j.cfg.seed for j in all_jobs.values()})
    record = write_results(
        out / f"{NAME}.json", NAME, command, started, max(wall, time.time() - t0), seeds, metrics
    )
    rows = [
        ("EB-JEPA success rate", "success_rate", "EB-JEPA paper: 0.97 ± 0.02"),
        ("EB-JEPA training minutes", "train_minutes", "under 60"),
        ("EB-JEPA planning seconds per episode", "plan_seconds_per_episode", "under 10"),
        (
            "EB-JEPA with perfect imagination: success rate (first 50 episodes)",
            "perfect_imagination_success_rate",
            "diagnostic",
        ),
        ("EB-JEPA state probe: door height error (px; spread 9.7)", "door_probe_rmse_px", "—"),
        ("without inverse dynamics: success rate", "no_idm_success_rate", "paper: 0.01"),
        (
            "without variance and covariance: success rate",
            "no_varcov_success_rate",
            "paper: 0.47 without var, 0.46 without cov",
        ),
        ("pixel-space baseline: success rate", "pixel_model_success_rate", "—"),
        ("pixel-space baseline: training minutes", "pixel_model_train_minutes", "under 60"),
        (
            "pixel-space baseline: planning seconds per episode",
            "pixel_model_plan_seconds_per_episode",
            "—",
        ),
        ("V-JEPA 2-AC recipe: success rate", "vjepa2_ac_success_rate", "—"),
        ("V-JEPA 2-AC recipe: training minutes", "vjepa2_ac_train_minutes", "under 60"),
        (
            "V-JEPA 2-AC recipe: planning seconds per episode",
            "vjepa2_ac_plan_seconds_per_episode",
            "—",
        ),
        (
            "V-JEPA 2-AC recipe, state probe: dot position error (px; spread 16.3)",
            "vjepa2_ac_dot_probe_rmse_px",
            "diagnostic",
        ),
    ]
    missing = [n for n in ORDER if n not in metrics["runs"]]
    notes = [
        f"{metrics['episodes_per_run']} planning episodes per run (random wall, start and goal in "
        "different rooms, episode i seeded 1,000,000 + i); success means the dot came within "
        "4.5 px of the goal within 200 steps. Training minutes are wall time with two runs "
        "sharing the machine, one core each; planning seconds are the time spent choosing "
        "actions, averaged over episodes (successful episodes end early). The time in all above "
        "is the runs' training and planning time, summed over runs.",
        "The planning cost reads only imagined states and the goal frame: the L2 distance of "
        "embeddings (EB-JEPA and its ablations), the MSE of decoded frames to the goal frame "
        "(pixel baseline), the L1 distance of pooled frame tokens (V-JEPA 2-AC); never the true "
        "position.",
        "Each run's numbers come from the commit recorded with it (`runs.<name>.commit` in "
        "the JSON); the report keeps earlier runs' records when their folders are gone.",
        "Scale: " + (__doc__ or "").split("Scale against the papers: ")[1].strip(),
    ]
    if missing:
        notes.insert(0, f"Not finished yet: {', '.join(missing)} (their metrics are None).")
    write_report(out / f"{NAME}.md", record, "Action-conditioned JEPA on Two-Rooms", rows, notes)
    print({k: v for k, v in metrics.items() if k not in ("runs", "configs")})


if __name__ == "__main__":
    main()
