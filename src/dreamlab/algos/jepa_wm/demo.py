"""``dreamlab demo``: a JEPA world model learns Two-Rooms from random walks in a few minutes, then
plans its way to a goal image inside its own embedding space.

1. EB-JEPA (preset ``demo``: the ``tworooms`` model with 1,000 updates) learns from
   random walks with a random wall per walk. Nothing tells it where the dot is.
2. MPPI plans in the model toward the goal frame's embedding; a handful of episodes, start and
   goal in different rooms, give the success rate.
3. Pictures: the imagined path (decoded by a linear probe) next to the real one, the embedding
   space's PCA coloured by the true position, and a GIF of one planning episode.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dreamlab.algos.jepa_wm.config import PRESETS
from dreamlab.algos.jepa_wm.pictures import write_pictures
from dreamlab.algos.jepa_wm.train import train
from dreamlab.train.config import config_to_dict
from dreamlab.train.run import create_run

__all__ = ["demo"]

ENV = "two-rooms"


def demo(out: Path, preset: str = "demo") -> dict[str, Any]:
    """Train ``preset`` into ``out/run`` (a normal run folder: ``dreamlab dream`` and
    ``dreamlab eval`` work on it), plan its episodes, and write the pictures into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = PRESETS[preset]
    run = create_run(out, "jepa_wm", ENV, config_to_dict(cfg), "run")
    start = time.perf_counter()
    results = train(cfg, ENV, run)
    trained = time.perf_counter() - start
    pictures = write_pictures(run, out, seed=0)
    return {
        "run folder": str(run.path),
        "training minutes (with the planning episodes)": round(trained / 60, 1),
        "planning episodes": cfg.eval_episodes,
        "success rate (start and goal in different rooms)": results["eval/success_rate"],
        "planning seconds per episode": round(results["eval/plan_seconds_per_episode"], 1),
        "probe error of the imagined path (px)": pictures.get("imagined_rmse_px"),
        "pictures": [pictures["imagined"], pictures["pca"], pictures["episode"]],
    }
