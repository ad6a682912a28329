"""Pictures of the JEPA world model: the position probe, the three pictures of a tiny trained
run, and ``dreamlab dream RUN``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from dreamlab.algos.jepa_wm.config import PRESETS
from dreamlab.algos.jepa_wm.pictures import (
    PROBE_SEED,
    encode_frames,
    probe_scores,
    ridge_probe,
    write_pictures,
)
from dreamlab.algos.jepa_wm.train import load_model, train
from dreamlab.cli import main
from dreamlab.envs.two_rooms import generate_two_rooms
from dreamlab.train import RunDir, config_to_dict, create_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """The debug model trained 20 steps on the fixed wall (a few seconds), without planning."""
    torch.set_num_threads(1)
    cfg = dataclasses.replace(PRESETS["debug"], eval_episodes=0)
    folder = tmp_path_factory.mktemp("pictures")
    trained = create_run(folder, "jepa_wm", "two-rooms-fixed", config_to_dict(cfg), "debug")
    train(cfg, "two-rooms-fixed", trained)
    return trained


# ----------------------------------------------------------------------------- the probe


def test_the_ridge_probe_recovers_a_linear_code_and_scores_against_the_mean() -> None:
    g = np.random.default_rng(0)
    pos = g.uniform(4, 60, size=(800, 2))
    mix = g.normal(size=(2, 12))
    features = pos @ mix + 0.05 * g.normal(size=(800, 12)) + 100.0  # offset: standardised away
    probe = ridge_probe(features[:600], pos[:600], alpha=1e-3)
    scores = probe_scores(probe, features[600:], pos[600:])
    assert scores["rmse_px"] < 0.5 and scores["r2"] > 0.999
    # Always answering the training mean is what mean_rmse_px scores: about the spread, 23 px.
    assert 18 < scores["mean_rmse_px"] < 28
    assert probe(features[600:]).shape == (200, 2)


def test_the_probe_reads_the_dot_from_a_briefly_trained_model_and_not_from_shuffled_labels(
    run: RunDir,
) -> None:
    model, cfg, _ = load_model(run)
    split = []
    for seed in (PROBE_SEED + 100, PROBE_SEED + 101):
        walks = generate_two_rooms(
            64, cfg.trajectory_length, random_wall=False, obs_mode=cfg.obs_mode, seed=seed
        )
        frames = walks.obs.reshape(-1, *walks.obs.shape[2:])  # [N, C, 65, 65]
        split.append((encode_frames(model, frames), walks.positions.reshape(-1, 2)))
    (train_x, train_y), (test_x, test_y) = split
    scores = probe_scores(ridge_probe(train_x, train_y), test_x, test_y)
    # Measured: 13.6 px against the mean's 22.4 px (random weights: 0.46-0.72 of the mean's).
    assert scores["rmse_px"] < 0.8 * scores["mean_rmse_px"]
    # The control: the same features and probe fitted to shuffled positions learn nothing that
    # carries to new frames, so a pass above is the features' doing, not the probe's.
    shuffled = train_y[np.random.default_rng(0).permutation(len(train_y))]
    control = probe_scores(ridge_probe(train_x, shuffled), test_x, test_y)
    assert control["rmse_px"] > 0.95 * control["mean_rmse_px"]
    assert scores["r2"] > control["r2"] + 0.25


# ----------------------------------------------------------------------------- the pictures


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
        return image.size


def test_write_pictures_writes_two_pngs_and_one_frame_per_step_of_the_episode(
    run: RunDir, tmp_path: Path
) -> None:
    summary = write_pictures(run, tmp_path / "out", seed=3, max_steps=5)
    for name in ("imagined", "pca"):
        path = Path(summary[name])
        assert path == tmp_path / "out" / f"{name}.png" and path.stat().st_size > 1000
        width, height = _png_size(path)
        assert width > 300 and height > 200
    steps = summary["episode/steps"]
    assert 1 <= steps <= 5
    with Image.open(summary["episode"]) as gif:
        assert gif.format == "GIF"
    video = iio.imread(summary["episode"], index=None)  # [frames, Hh, W, 3]
    assert len(video) == summary["episode/frames"] == steps + 1  # the start, then each step
    # Real frames and the goal side by side, each enlarged 4 times (65 -> 260 px).
    assert video.shape[2] > 2 * 260 and video.shape[1] >= 260
    assert 0.0 < summary["pca_explained"] <= 1.0 + 1e-9
    assert np.isfinite(summary["imagined_rmse_px"]) and np.isfinite(summary["encoded_rmse_px"])
    assert summary["probe/rmse_px"] < summary["probe/mean_rmse_px"]


def test_a_model_and_config_pair_draws_the_same_numbers_as_its_run(
    run: RunDir, tmp_path: Path
) -> None:
    model, cfg, _ = load_model(run)
    from_pair = write_pictures((model, cfg), tmp_path / "pair", seed=3, random_wall=False,
                               max_steps=2)  # fmt: skip
    from_run = write_pictures(run.path, tmp_path / "run", seed=3, max_steps=2)
    for key in ("probe/rmse_px", "imagined_rmse_px", "pca_explained", "episode/steps"):
        assert from_pair[key] == from_run[key]


def test_dreamlab_dream_writes_the_pictures_into_the_run(
    run: RunDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dream", str(run.path), "--frames", "3", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "probe/rmse_px" in printed and "episode/frames" in printed
    for name in ("imagined.png", "pca.png", "episode.gif"):
        assert (run.videos / name).stat().st_size > 0
    assert len(iio.imread(run.videos / "episode.gif", index=None)) <= 3


def test_the_demo_trains_a_loadable_run_and_writes_its_pictures(tmp_path: Path) -> None:
    from dreamlab.algos.jepa_wm.demo import demo

    summary = demo(tmp_path / "demo", preset="debug")
    _, cfg, env = load_model(RunDir(tmp_path / "demo" / "run"))
    assert (env, cfg) == ("two-rooms", PRESETS["debug"])
    for name in ("imagined.png", "pca.png", "episode.gif"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    assert 0.0 <= summary["success rate (start and goal in different rooms)"] <= 1.0


def test_dreamlab_demo_rejects_a_system_without_a_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--system", "muzero", "--out", "unused"]) == 2
    assert "has no demo" in capsys.readouterr().err
