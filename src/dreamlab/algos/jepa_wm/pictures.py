"""Pictures of a trained Two-Rooms world model: what its embedding knows about the dot, what it
imagines along real actions, and what it plans.

The embedding is never decoded by the model itself (EB-JEPA has no decoder). To draw imagined
states in the room, a linear (ridge) probe is fitted from embeddings to the dot's true position
on random-walk frames; the true position serves only these pictures and the probe's own score,
never planning. What is written::

    probe       ridge from features f(s) = State.z flattened [N, F] to (x, y) [N, 2], fitted
                on random walks, scored on other random walks against predicting the mean
    imagined    the predictor rolled open-loop from a start frame along a real random walk's
                actions, each imagined state decoded by the probe, over the true path (PNG)
    pca         the embeddings of many frames on their first two principal components (numpy
                SVD), coloured by the true x and by the true y (PNG, two panels)
    episode     one MPC episode toward a goal frame: each real frame with the path so far and
                the current plan's imagined path decoded by the probe, beside the goal (GIF)

``write_pictures`` writes all four; ``dream`` is ``dreamlab dream RUN``. Features are
``State.z`` flattened, so the pixel baseline's latent and V-JEPA 2-AC's frame tokens are drawn
the same way as EB-JEPA's 64-d embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageDraw
from torch import Tensor

from dreamlab.algos.jepa_wm.config import JEPAWMConfig
from dreamlab.algos.jepa_wm.train import (
    Model,
    load_model,
    make_planner,
    planning_objective,
    random_wall_for,
)
from dreamlab.envs.two_rooms import (
    IMAGE_SIZE,
    TwoRoomsData,
    TwoRoomsEnv,
    WallSpec,
    generate_two_rooms,
    render_two_rooms,
)
from dreamlab.errors import DreamlabError
from dreamlab.planners import ActionSpec, MPCAgent
from dreamlab.rollout import rollout
from dreamlab.train.run import RunDir, open_run
from dreamlab.viz.plots import save_figure
from dreamlab.viz.video import side_by_side, write_video

__all__ = [
    "PositionProbe",
    "dream",
    "embedding_pca_picture",
    "encode_frames",
    "fit_position_probe",
    "imagined_path_picture",
    "planning_video",
    "probe_scores",
    "ridge_probe",
    "write_pictures",
]

PROBE_SEED = 7_000_000
"""Random walks of the pictures take seeds from here on, away from the training data's seeds."""
_FIT, _SCORE, _IMAGINED, _PCA = range(4)  # what a picture seed's four sets of walks are for
_SCALE = 4  # video frames are enlarged 65 -> 260 px so the paths are visible
_CHUNK = 512  # frames encoded at a time


# ----------------------------------------------------------------------------- the probe


def _walk_seed(seed: int, use: int) -> int:
    """The data seed of one of a picture seed's four sets of random walks (never shared)."""
    return PROBE_SEED + 4 * seed + use


def _walks(
    model: Model, cfg: JEPAWMConfig, random_wall: bool, n: int, length: int, data_seed: int
) -> tuple[TwoRoomsData, np.ndarray]:
    """``n`` random walks of ``length`` frames in the config's observation mode, and the
    features [n * length, F] of all their frames."""
    walks = generate_two_rooms(
        n, length, random_wall=random_wall, obs_mode=cfg.obs_mode, seed=data_seed
    )
    frames = walks.obs.reshape(-1, *walks.obs.shape[2:])  # [n * length, ...]
    return walks, encode_frames(model, frames)


def _positions(walks: TwoRoomsData) -> np.ndarray:
    """The true dot positions of every frame of the walks, float64 [n * length, 2]."""
    return walks.positions.reshape(-1, 2).astype(np.float64)


@torch.inference_mode()
def encode_frames(model: Model, frames: np.ndarray) -> np.ndarray:
    """Features float64 [N, F] of environment frames uint8 [N, ...]: ``initial(frames).z``
    flattened, the very state planning starts from."""
    model.eval()
    parts = [
        model.initial(torch.from_numpy(frames[i : i + _CHUNK])).z.flatten(1)
        for i in range(0, len(frames), _CHUNK)
    ]
    return torch.cat(parts).double().numpy()


@dataclass(frozen=True)
class PositionProbe:
    """A linear map from standardised features to the dot's (x, y) in frame pixels."""

    mean: np.ndarray  # [F]
    std: np.ndarray  # [F]
    weight: np.ndarray  # [F, 2]
    bias: np.ndarray  # [2]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Positions [N, 2] (x, y) decoded from features [N, F]."""
        return ((features - self.mean) / self.std) @ self.weight + self.bias

    def decode_states(self, z: Tensor) -> np.ndarray:
        """Positions [N, 2] of states whose ``z`` is [N, ...]."""
        return self(z.detach().flatten(1).double().cpu().numpy())


def ridge_probe(features: np.ndarray, positions: np.ndarray, alpha: float = 1.0) -> PositionProbe:
    """Ridge regression of positions [N, 2] on features [N, F], each feature standardised; the
    penalty ``alpha`` falls on the weights, not on the bias (the positions' mean)."""
    mean, spread = features.mean(axis=0), features.std(axis=0)
    # A feature that never varies (a dead unit) is divided by 1: it stays 0 and adds nothing.
    std = np.where(spread > 1e-8, spread, 1.0)
    x = (features - mean) / std  # [N, F]
    bias = positions.mean(axis=0)  # [2]
    gram = x.T @ x + alpha * np.eye(x.shape[1])  # [F, F]
    weight = np.linalg.solve(gram, x.T @ (positions - bias))  # [F, 2]
    return PositionProbe(mean, std, weight, bias)


def probe_scores(
    probe: PositionProbe, features: np.ndarray, positions: np.ndarray
) -> dict[str, float]:
    """The probe on held-out features [N, F] against the true positions [N, 2]: ``rmse_px``
    (root mean squared distance), ``mean_rmse_px`` (the same for always answering the probe's
    training mean, the score of features that know nothing) and ``r2`` over both coordinates."""
    error = probe(features) - positions  # [N, 2]
    baseline = probe.bias - positions
    sse, sst = float((error**2).sum()), float(((positions - positions.mean(axis=0)) ** 2).sum())
    return {
        "rmse_px": float(np.sqrt((error**2).sum(axis=1).mean())),
        "mean_rmse_px": float(np.sqrt((baseline**2).sum(axis=1).mean())),
        "r2": 1.0 - sse / sst,
    }


def fit_position_probe(
    model: Model,
    cfg: JEPAWMConfig,
    random_wall: bool,
    seed: int = 0,
    trajectories: int = 64,
    alpha: float = 1.0,
) -> tuple[PositionProbe, dict[str, float]]:
    """Fit the probe on ``trajectories`` random walks of ``cfg.trajectory_length`` frames and
    score it on as many others (``probe_scores``); ``seed`` picks the walks."""
    length = cfg.trajectory_length
    fit, fit_x = _walks(model, cfg, random_wall, trajectories, length, _walk_seed(seed, _FIT))
    held, held_x = _walks(model, cfg, random_wall, trajectories, length, _walk_seed(seed, _SCORE))
    probe = ridge_probe(fit_x, _positions(fit), alpha)
    return probe, probe_scores(probe, held_x, _positions(held))


# ----------------------------------------------------------------------------- pictures


def _room(position: np.ndarray, wall: np.ndarray) -> np.ndarray:
    """The RGB frame uint8 [65, 65, 3] of a dot at ``position`` [2] behind ``wall`` [2]."""
    walls = WallSpec.from_tensor(torch.from_numpy(wall[None].astype(np.float32)))
    pos = torch.from_numpy(position[None].astype(np.float32))
    return render_two_rooms(pos, walls, "rgb")[0].numpy()


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a - b) ** 2).sum(axis=1).mean()))


def imagined_path_picture(
    model: Model,
    cfg: JEPAWMConfig,
    probe: PositionProbe,
    path: Path,
    random_wall: bool,
    seed: int = 0,
    steps: int = 32,
    panels: int = 3,
) -> dict[str, float]:
    """Roll the model open-loop for ``steps`` actions of real random walks from their first
    frames and draw, per walk, the true path, the probe on the real frames' encodings and the
    probe on the imagined states. Returns the mean distance (px, root mean square) of the
    imagined and of the encoded positions to the true ones."""
    data, features = _walks(model, cfg, random_wall, panels, steps + 1, _walk_seed(seed, _IMAGINED))
    with torch.inference_mode():
        start = model.initial(torch.from_numpy(data.obs[:, 0]))  # B = panels walks at once
        imagined = rollout(model, start, torch.from_numpy(data.actions), steps).states.z
    dreamt = probe.decode_states(imagined.flatten(0, 1)).reshape(panels, steps + 1, 2)
    encoded = probe(features).reshape(panels, steps + 1, 2)
    true = data.positions.astype(np.float64)  # [panels, steps + 1, 2]

    fig = Figure(figsize=(3.0 * panels + 2.0, 3.4))
    grid = fig.add_gridspec(1, panels + 1, width_ratios=[1.0] * panels + [0.7])
    for i in range(panels):
        ax = fig.add_subplot(grid[0, i])
        # extent puts pixel (row r, col c) at (c, r): the coordinates positions are given in.
        ax.imshow(_room(true[i, 0], data.walls[i]), extent=(-0.5, 64.5, 64.5, -0.5))
        lines = [
            ax.plot(*true[i].T, "-", color="white", lw=2)[0],
            ax.plot(*encoded[i].T, ":", color="tab:cyan", lw=1.5)[0],
            ax.plot(*dreamt[i].T, "--", color="gold", lw=2)[0],
        ]
        ax.plot(*true[i, 0], "o", color="white", ms=5)
        ax.set_xlim(-0.5, 64.5)
        ax.set_ylim(64.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"walk {i + 1}: {steps} open-loop steps", fontsize=9)
    # One legend in a panel of its own, so it covers no path.
    key = fig.add_subplot(grid[0, panels])
    key.axis("off")
    names = ["true path (start: dot)", "probe of the real frames", "probe of the imagined states"]
    key.legend(lines, names, loc="center", fontsize=8, facecolor="0.3", labelcolor="white")
    fig.suptitle("open-loop imagination decoded by a linear probe, against the truth", fontsize=10)
    save_figure(fig, path)
    return {"imagined_rmse_px": _rmse(dreamt.reshape(-1, 2), true.reshape(-1, 2)),
            "encoded_rmse_px": _rmse(encoded.reshape(-1, 2), true.reshape(-1, 2))}  # fmt: skip


def embedding_pca_picture(
    model: Model,
    cfg: JEPAWMConfig,
    path: Path,
    random_wall: bool,
    seed: int = 0,
    trajectories: int = 64,
) -> dict[str, float]:
    """The embeddings of the frames of ``trajectories`` random walks projected on their first two
    principal components, coloured by the true x (left) and y (right); returns the share of the
    variance the two components explain."""
    data_seed = _walk_seed(seed, _PCA)
    data, features = _walks(model, cfg, random_wall, trajectories, cfg.trajectory_length, data_seed)
    positions = _positions(data)  # [N, 2]
    centred = features - features.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = centred @ vt[:2].T  # [N, 2]
    variance = singular**2
    explained = float(variance[:2].sum() / max(variance.sum(), 1e-12))

    fig = Figure(figsize=(8.4, 3.8))
    for i, name in enumerate(("x", "y")):
        ax = fig.add_subplot(1, 2, i + 1)
        dots = ax.scatter(pcs[:, 0], pcs[:, 1], c=positions[:, i], s=4, cmap="viridis")
        fig.colorbar(dots, ax=ax, label=f"true {name} (px)")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.set_title(f"coloured by the dot's {name}", fontsize=9)
    fig.suptitle(
        f"embeddings of {len(features)} frames on 2 principal components "
        f"({100 * explained:.0f}% of the variance)",
        fontsize=10,
    )
    save_figure(fig, path)
    return {"pca_explained": explained}


def _to_video(x: float, y: float) -> tuple[float, float]:
    """Frame coordinates (pixel centres) -> coordinates in the enlarged video frame; a probe's
    guess beyond the canvas is drawn on its edge."""
    x, y = (min(max(v, -0.5), IMAGE_SIZE - 0.5) for v in (x, y))
    return (x + 0.5) * _SCALE, (y + 0.5) * _SCALE


def _draw(
    frame: np.ndarray, past: list[np.ndarray], plan: np.ndarray | None, step: int
) -> np.ndarray:
    """The enlarged frame with the path so far (white) and the plan still ahead (gold)."""
    big = Image.fromarray(frame).resize((IMAGE_SIZE * _SCALE,) * 2, Image.Resampling.NEAREST)
    pen = ImageDraw.Draw(big)
    if len(past) > 1:
        pen.line([_to_video(*p) for p in past], fill=(255, 255, 255), width=2)
    if plan is not None and len(plan) > 1:
        pen.line([_to_video(*p) for p in plan], fill=(255, 200, 0), width=2)
    pen.text((6, 3), f"step {step}", fill=(0, 0, 0))  # on the grey border
    return np.asarray(big)


def planning_video(
    model: Model,
    cfg: JEPAWMConfig,
    probe: PositionProbe,
    path: Path,
    random_wall: bool,
    seed: int = 0,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Play one MPC episode (environment and planner seeded by ``seed``) as ``plan_episodes``
    does, and write a GIF of its frames: the path so far and the current plan's imagined path
    (the probe on the states of ``MPCCarry.trajectory`` not yet executed), beside the goal.

    Frames: the start and one per step. Returns ``frames``, ``steps`` and ``success``.
    """
    steps_cap = cfg.max_episode_steps if max_steps is None else max_steps
    if steps_cap < 1:
        raise DreamlabError(f"a planning video needs at least 1 step, got {steps_cap}")
    env = TwoRoomsEnv(random_wall=random_wall, obs_mode=cfg.obs_mode, max_steps=steps_cap)
    obs, info = env.reset(seed=seed)
    model.eval()
    # The agent of plan_episodes, stepped here by hand: the video needs its carry every step.
    agent = MPCAgent(
        model=model,
        planner=make_planner(cfg, torch.Generator().manual_seed(seed)),
        horizon=cfg.plan_horizon,
        spec=ActionSpec.from_space(env.action_space),
        objective=planning_objective(model, info["goal_obs"], cfg.plan_cost),
        replan_every=cfg.replan_every,
    )
    wall = env.wall
    past = [env.position]
    frames = [_draw(_room(env.position, wall), past, None, 0)]
    carry, success = None, False
    while True:
        action, carry = agent.act(obs, carry)
        obs, _, terminated, truncated, info = env.step(action)
        past.append(env.position)
        success = success or bool(info["success"])
        # The plan's state at index offset is where the agent now imagines itself.
        ahead = carry.trajectory.states.z[0, carry.offset :]  # [H + 1 - offset, ...]
        plan = probe.decode_states(ahead) if len(ahead) > 1 else None
        frames.append(_draw(_room(env.position, wall), past, plan, len(past) - 1))
        if terminated or truncated:
            break
    env.close()
    side = IMAGE_SIZE * _SCALE
    goal = np.asarray(
        Image.fromarray(_room(env.goal, wall)).resize((side, side), Image.Resampling.NEAREST)
    )
    video = side_by_side([frames, [goal]], ["real: path (white), plan (gold)", "goal"])
    write_video(path, video, fps=8.0)
    return {"frames": len(video), "steps": len(past) - 1, "success": success}


# ----------------------------------------------------------------------------- all of them


def write_pictures(
    source: RunDir | Path | str | tuple[Model, JEPAWMConfig],
    out_dir: Path | str,
    seed: int = 0,
    *,
    random_wall: bool | None = None,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Write ``imagined.png``, ``pca.png`` and ``episode.gif`` into ``out_dir`` for a run folder
    or a ``(model, config)`` pair; returns the files and the numbers behind them (``probe/*``).

    ``random_wall`` defaults to the run's environment (a pair: the config's); ``max_steps`` caps
    the episode (default ``cfg.max_episode_steps``); ``seed`` picks the walks and the episode.
    """
    if isinstance(source, tuple):
        model, cfg = source
        wall = cfg.random_wall if random_wall is None else random_wall
    else:
        run = source if isinstance(source, RunDir) else open_run(Path(source))[0]
        model, cfg, env_name = load_model(run)
        wall = random_wall_for(cfg, env_name) if random_wall is None else random_wall
    torch.set_num_threads(cfg.threads)
    out = Path(out_dir)
    probe, scores = fit_position_probe(model, cfg, wall, seed)
    summary: dict[str, Any] = {f"probe/{k}": v for k, v in scores.items()}
    summary.update(imagined_path_picture(model, cfg, probe, out / "imagined.png", wall, seed))
    summary.update(embedding_pca_picture(model, cfg, out / "pca.png", wall, seed))
    episode = planning_video(model, cfg, probe, out / "episode.gif", wall, seed, max_steps)
    summary.update({f"episode/{k}": v for k, v in episode.items()})
    for name in ("imagined.png", "pca.png", "episode.gif"):
        summary[name.split(".")[0]] = str(out / name)
    return summary


def dream(run: RunDir, frames: int, seed: int) -> dict[str, Any]:
    """``dreamlab dream RUN``: the pictures of ``write_pictures`` in the run's ``videos/``, the
    episode cut to ``frames`` frames (its start and ``frames - 1`` steps)."""
    return write_pictures(run, run.videos, seed, max_steps=max(frames - 1, 1))
