"""World Models end to end on the real DoomTakeCover: the env, the six stages, resume, Ray, videos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("vizdoom")
pytest.importorskip("cma")

from dreamlab.algos.ha_world_models import train as T
from dreamlab.algos.ha_world_models.config import PRESETS, HaConfig
from dreamlab.algos.ha_world_models.dream import num_params
from dreamlab.cli import main
from dreamlab.envs import make_env
from dreamlab.envs.doom import doom_buttons
from dreamlab.train.config import config_from_dict
from dreamlab.train.population import shutdown_workers
from dreamlab.train.run import RunDir, read_metrics


def test_doom_take_cover_frames_actions_and_score() -> None:
    assert doom_buttons(-0.9) == [1, 0] and doom_buttons(0.9) == [0, 1]
    assert doom_buttons(0.2) == [0, 0] and doom_buttons(-0.3) == [0, 0]
    env = make_env("DoomTakeCover", max_frames=40)
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=5)
        frames, score, steps = [obs], 0.0, 0
        while True:
            obs, reward, terminated, truncated, _ = env.step(np.array([0.8]))
            frames.append(obs)
            score, steps = score + reward, steps + 1
            if terminated or truncated:
                break
        runs.append(np.stack(frames))
        # Nobody dies in 40 frames: the cap ends the episode, one point per frame.
        assert truncated and not terminated and score == steps == 40
    env.close()
    assert runs[0].shape == (41, 64, 64, 3) and runs[0].dtype == np.uint8
    assert np.array_equal(runs[0], runs[1])  # the seed fixes the game
    assert not np.array_equal(runs[0][0], runs[0][-1])  # strafing changes the view


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """The small preset trained through all six stages by the command line."""
    root = tmp_path_factory.mktemp("runs")
    assert (
        main(["train", "world_models", "--preset", "small", "--runs", str(root), "--name", "s"])
        == 0
    )
    return RunDir(root / "s")


def test_the_six_stages_run_and_record_their_times(small_run: RunDir) -> None:
    stages = json.loads((small_run.path / "stages.json").read_text())
    later = [f"{s}_r2" for s in T.STAGES if s != "vae"]
    assert list(stages) == [*T.STAGES, *later] and all(s >= 0 for s in stages.values())
    result = json.loads((small_run.path / "controller_r2_eval.json").read_text())
    cfg = PRESETS["small"]
    # Round 2 collected C's own rollouts and M learned from both rounds' data.
    assert T.latest_round(small_run) == 2
    both = T.Latents.load(small_run, 2)
    assert len(both.length) == cfg.collect_episodes + cfg.round_episodes
    assert result["real_return"]["n"] == cfg.eval_episodes
    assert all(1 <= r <= cfg.max_frames for r in result["returns"])
    lat = T.Latents.load(small_run)
    assert lat.mu.shape[1] == cfg.z_size and lat.length.sum() == len(lat.mu)
    assert lat.done.sum() <= len(lat.length)  # at most one death per episode
    keys = {k for row in read_metrics(small_run) for k in row}
    assert {"vae/reconstruction", "rnn/nll", "controller/mean"} <= keys


def test_dream_command_writes_both_videos(small_run: RunDir) -> None:
    assert main(["dream", str(small_run.path), "--frames", "12"]) == 0
    import imageio.v3 as iio

    for name in ("real_recon_dream.gif", "controller_in_dream.gif"):
        frames = iio.imread(small_run.videos / name, index=None)
        assert frames.shape[0] >= 2 and frames.shape[-1] in (3, 4)
    assert iio.imread(small_run.videos / "real_recon_dream.gif", index=None).shape[2] > 3 * 128


def test_ray_workers_give_the_same_fitness_as_one_process(small_run: RunDir) -> None:
    pytest.importorskip("ray")
    cfg = config_from_dict(HaConfig, json.loads(small_run.config_path.read_text())["config"])
    shared = T._shared(small_run, cfg, "DoomTakeCover")
    lat = T.Latents.load(small_run)
    candidates = np.random.default_rng(0).normal(0, 1.0, (8, num_params(cfg)))
    try:
        here = T.population_scores(cfg, shared, candidates, 3, 4, latents=lat)
        on_ray = T.population_scores(replace(cfg, workers=2), shared, candidates, 3, 4, latents=lat)
        assert np.array_equal(here, on_ray)
        real = replace(cfg, train_in="real", max_frames=60)
        here = T.population_scores(real, shared, candidates[:4], 0, 2)
        on_ray = T.population_scores(replace(real, workers=2), shared, candidates[:4], 0, 2)
        assert np.array_equal(here, on_ray) and here.std() > 0
        import ray

        assert ray.cluster_resources().get("CPU") == 2
    finally:
        shutdown_workers()


def _train_cmd(root: Path, name: str) -> list[str]:
    code = "import sys; from dreamlab.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "train", "world_models", "--preset", "small",
            "--runs", str(root), "--name", name, "--generations", "12"]  # fmt: skip


def test_a_killed_run_resumes_to_the_same_controller(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(_train_cmd(tmp_path, "whole"), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(
        _train_cmd(tmp_path, "killed"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder = tmp_path / "killed" / "checkpoints" / "controller"
    deadline = time.time() + 120
    while time.time() < deadline and not any(
        int(f.stem.split("_")[1]) >= 3 for f in folder.glob("ckpt_*.json")
    ):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "controller_eval.json").exists(), "killed too late"
    resume = [*_train_cmd(tmp_path, "x")[:3], "train", "--resume", str(tmp_path / "killed")]
    subprocess.run(resume, check=True, env=env, capture_output=True)
    for name in ("controller", "controller_r2"):
        a = json.loads((tmp_path / "whole" / f"{name}_eval.json").read_text())
        b = json.loads((tmp_path / "killed" / f"{name}_eval.json").read_text())
        assert a == b
        pa = T.load_controller(RunDir(tmp_path / "whole"), name)
        pb = T.load_controller(RunDir(tmp_path / "killed"), name)
        assert np.array_equal(pa, pb)


def test_dream_command_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dream", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dreamlab: not a run folder") and "\n" not in err
