"""Shared by the DreamerV3 benchmarks: train named runs in fixed folders, two at a time.

Each run is one process with one torch thread (two runs side by side fill the 2 cores without
slowing each other the way two 2-thread processes do). A run folder that holds ``summary.json`` is
finished and is read, not re-run; a folder without it holds a killed run, which resumes from its
last checkpoint.
"""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

from dreamlab.algos.dreamer.config import DreamerConfig
from dreamlab.train.config import config_to_dict


@dataclass(frozen=True)
class Job:
    """One training run: its folder name, environment and config."""

    name: str
    env: str
    cfg: DreamerConfig


def _train(root: str, job: Job) -> None:
    import torch

    from dreamlab.algos.dreamer import train as T
    from dreamlab.train.run import RunDir, create_run

    torch.set_num_threads(1)
    folder = Path(root) / job.name
    if folder.exists():
        T.train(job.cfg, job.env, RunDir(folder), resume=True)
    else:
        run = create_run(Path(root), "dreamer", job.env, config_to_dict(job.cfg), job.name)
        T.train(job.cfg, job.env, run)


def run_all(root: Path, jobs: list[Job], parallel: int = 2) -> dict[str, dict]:
    """Train every unfinished job (``parallel`` at a time); returns each job's summary."""
    root.mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs if not (root / j.name / "summary.json").exists()]
    if todo:
        with multiprocessing.get_context("spawn").Pool(min(parallel, len(todo))) as pool:
            pool.starmap(_train, [(str(root), j) for j in todo])
    return {j.name: json.loads((root / j.name / "summary.json").read_text()) for j in jobs}


def finished(root: Path, names: list[str]) -> dict[str, dict]:
    """Summaries of the runs among ``names`` that have finished."""
    out = {}
    for name in names:
        path = root / name / "summary.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out
