"""Speed of the batched tree search: simulations per second, and the tree's cost next to the network's.

    python benchmarks/mcts_speed.py       # about 1 minute

A MuZero network of the CartPole preset (hidden 64, latent 32, support 20) searches from 64 roots
at once with 50 simulations (pUCT and Gumbel), one torch thread. The network's own time is
measured inside the search (every ``step`` call timed), so the tree's cost is
(search time - network time) / network time. Writes docs/results/mcts_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from dreamlab.algos.muzero.config import PRESETS
from dreamlab.algos.muzero.networks import MuZeroNet
from dreamlab.eval.results import now, write_report, write_results
from dreamlab.planners.mcts import SearchConfig, mcts
from dreamlab.types import State, StepOut

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"


class Timed:
    """Wraps a model and adds up the seconds its ``step`` takes."""

    def __init__(self, net: MuZeroNet) -> None:
        self.net, self.seconds = net, 0.0

    def step(self, state: State, action: torch.Tensor) -> tuple[State, StepOut]:
        t = time.perf_counter()
        out = self.net.step(state, action)
        self.seconds += time.perf_counter() - t
        return out

    def initial(self, obs: torch.Tensor) -> State:
        return self.net.initial(obs)


def measure(cfg: SearchConfig, batch: int, repeats: int) -> dict[str, float]:
    """Seconds per search, simulations per second and the tree's cost over the network's."""
    p = PRESETS["cartpole"]
    torch.manual_seed(0)
    net = MuZeroNet(4, 2, p.hidden, p.latent, p.support).eval()
    obs = torch.randn(batch, 4)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        root, value, logits = net.root(obs)
    mcts(Timed(net), root, value, logits, replace(cfg, simulations=2), rng)  # compile the kernels
    timed = Timed(net)
    t0 = time.perf_counter()
    for _ in range(repeats):
        mcts(timed, root, value, logits, cfg, rng)
    total = (time.perf_counter() - t0) / repeats
    network = timed.seconds / repeats
    return {
        "seconds_per_search": total,
        "simulations_per_second": cfg.simulations * batch / total,
        "network_seconds_per_search": network,
        "tree_cost_over_network_cost": (total - network) / network,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started, t0 = now(), time.time()
    puct = measure(SearchConfig(simulations=50), 64, args.repeats)
    gumbel = measure(SearchConfig(simulations=50, gumbel=True), 64, args.repeats)
    single = measure(SearchConfig(simulations=50), 1, args.repeats)
    metrics = {
        "simulations_per_second_b64": puct["simulations_per_second"],
        "tree_cost_over_network_cost": puct["tree_cost_over_network_cost"],
        "puct_b64": puct,
        "gumbel_b64": gumbel,
        "puct_b1": single,
        "batch": 64,
        "simulations": 50,
        "torch_threads": 1,
    }
    command = "python benchmarks/" + Path(__file__).name
    command += (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    record = write_results(
        OUT / "mcts_speed.json", "mcts_speed", command, started, time.time() - t0, [0], metrics
    )
    rows = [
        ("simulations per second, 64 roots, pUCT", "simulations_per_second_b64", "-"),
        ("tree cost / network cost, 64 roots, pUCT", "tree_cost_over_network_cost", "<= 2"),
    ]
    notes = [
        f"Gumbel MuZero, 64 roots: {gumbel['simulations_per_second']:.0f} simulations/s, tree cost "
        f"{gumbel['tree_cost_over_network_cost']:.2f}x the network's. One root (no batching): "
        f"{single['simulations_per_second']:.0f} simulations/s, tree cost "
        f"{single['tree_cost_over_network_cost']:.2f}x.",
        "The network is the CartPole preset's MLPs on one torch thread; 50 simulations per search, "
        f"the mean of {args.repeats} searches after the kernels are compiled.",
    ]
    write_report(OUT / "mcts_speed.md", record, "Batched MCTS speed", rows, notes)
    print(f"pUCT b64: {puct}\nGumbel b64: {gumbel}\nb1: {single}")


if __name__ == "__main__":
    main()
