"""A picture of one search tree: what MuZero imagined before it moved.

``dreamlab dream RUN --frames N`` plays a greedy episode to step N, searches there, and draws
that tree: one circle per node (area ~ visits, colour = mean value), edges labelled by action,
the root's children annotated with visits, prior and Q.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from dreamlab.planners.mcts import SearchResult
from dreamlab.train.run import RunDir
from dreamlab.viz.plots import save_figure

__all__ = ["draw_tree", "search_tree_picture"]


def _layout(child: np.ndarray, visits: np.ndarray, max_depth: int) -> dict[int, tuple[float, int]]:
    """x (leaf order) and depth of every node down to ``max_depth``, children ordered by action."""
    pos: dict[int, tuple[float, int]] = {}
    next_x = [0.0]

    def place(node: int, depth: int) -> float:
        kids = [int(c) for c in child[node] if c >= 0 and visits[c] > 0]
        if depth == max_depth or not kids:
            x = next_x[0]
            next_x[0] += 1.0
        else:
            xs = [place(c, depth + 1) for c in kids]
            x = (min(xs) + max(xs)) / 2
        pos[node] = (x, depth)
        return x

    place(0, 0)
    return pos


def draw_tree(result: SearchResult, index: int, path: Path, title: str, max_depth: int = 5) -> Path:
    """Draw the tree of batch element ``index`` of a search to ``path`` (png)."""
    t = result.tree
    child, visits = t.child[index], t.visits[index]
    value = t.value_sum[index] / np.maximum(visits, 1)
    pos = _layout(child, visits, max_depth)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(pos)), 5))
    vmin, vmax = float(value[list(pos)].min()), float(value[list(pos)].max())
    for node, (x, d) in pos.items():
        parent = int(t.parent[index, node])
        if parent >= 0 and parent in pos:
            px, pd = pos[parent]
            ax.plot(
                [px, x], [-pd, -d], color="0.6", lw=0.5 + 3 * visits[node] / visits[0], zorder=1
            )
            if d == 1:
                a = int(t.parent_action[index, node])
                ax.annotate(
                    f"a={a}\nN={visits[node]}\nP={t.prior[index, 0, a]:.2f}\nQ={result.q[index, a]:.2f}",
                    ((px + x) / 2, -(pd + d) / 2),
                    fontsize=7,
                    ha="center",
                    va="center",
                    bbox={"fc": "white", "ec": "none", "alpha": 0.8},
                )
    xs = [p[0] for p in pos.values()]
    ys = [-p[1] for p in pos.values()]
    sizes = [20 + 400 * visits[n] / visits[0] for n in pos]
    dots = ax.scatter(xs, ys, s=sizes, c=[value[n] for n in pos], cmap="viridis", zorder=2)
    dots.set_clim(vmin, vmax if vmax > vmin else vmin + 1e-6)
    fig.colorbar(dots, ax=ax, label="mean value of the node")
    deepest = max(d for _, d in pos.values())
    ax.set_yticks([-d for d in range(deepest + 1)], [f"depth {d}" for d in range(deepest + 1)])
    ax.set_xticks([])
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)
    return path


def search_tree_picture(run: RunDir, step: int, seed: int) -> dict[str, Any]:
    """Play a greedy episode (seed ``seed``) to ``step`` and draw the search made there."""
    from dreamlab.algos.muzero.train import _legal, act, load_net, search_config
    from dreamlab.envs import make_env

    net, cfg, info = load_net(run)
    env = make_env(info.name)
    obs, inf = env.reset(seed=seed)
    search = search_config(cfg, info, evaluation=True)
    rng = np.random.default_rng(seed)
    torch.set_num_threads(cfg.threads)
    done_at = None
    for t in range(step + 1):
        result = act(net, obs[None], _legal(inf, info.actions)[None], search, rng, 0.0)
        if t == step:
            break
        obs, _, term, trunc, inf = env.step(int(result.action[0]))
        if term or trunc:
            done_at = t + 1
            break
    env.close()
    if done_at is not None:
        step = done_at - 1
    path = run.path / "videos" / f"search_tree_step{step}.png"
    title = (
        f"MuZero search at step {step} of a greedy {info.name} episode\n"
        f"{search.simulations} simulations, chose a={int(result.action[0])}, "
        f"value {float(result.value[0]):.2f}"
    )
    draw_tree(result, 0, path, title)
    return {"tree": str(path), "step": step}
