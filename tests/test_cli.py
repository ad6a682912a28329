"""The dreamlab command end to end, as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint
from dreamlab.train.run import RunDir, read_metrics

SHORTCUT = ["train", "dyna", "--env", "shortcut_maze", "--preset", "shortcut", "--checkpoint-every", "1"]  # fmt: skip
# FrozenLake is slippery: resuming it exactly needs the environment's own random stream too.
FROZEN = ["train", "dyna", "--env", "FrozenLake-v1", "--planning-steps", "20", "--episodes", "1500", "--checkpoint-every", "25"]  # fmt: skip


def dreamlab(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed command line in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-m", "dreamlab.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamlab: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_list_names_systems_environments_and_presets(tmp_path: Path) -> None:
    out = dreamlab("list", cwd=tmp_path).stdout
    for name in ("dyna", "dyna_maze", "blocking_maze", "shortcut_maze", "fig8_2"):
        assert name in out


def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    one_line_error(
        dreamlab("train", "no-such-system", cwd=tmp_path, check=False), "no-such-system", "dyna"
    )
    one_line_error(
        dreamlab("train", "dyna", "--env", "nope", cwd=tmp_path, check=False), "'nope'", "dyna_maze"
    )
    one_line_error(
        dreamlab("train", "dyna", "--preset", "xx", cwd=tmp_path, check=False), "'xx'", "fig8_2"
    )
    one_line_error(
        dreamlab("train", "dyna", "--plannig-steps", "3", cwd=tmp_path, check=False),
        "--planning-steps",
    )
    one_line_error(
        dreamlab("train", "dyna", "--alpha", "abc", cwd=tmp_path, check=False), "--alpha", "abc"
    )
    one_line_error(dreamlab("trian", cwd=tmp_path, check=False), "'train'")
    one_line_error(
        dreamlab("eval", str(tmp_path / "missing"), cwd=tmp_path, check=False), "missing"
    )
    assert not (tmp_path / "runs").exists()  # nothing was written for any of them


def test_train_eval_collect(tmp_path: Path) -> None:
    dreamlab("train", "dyna", "--preset", "fig8_2", "--name", "r", cwd=tmp_path)
    run = tmp_path / "runs" / "r"
    assert json.loads((run / "config.json").read_text())["config"]["planning_steps"] == 50
    rows = read_metrics(RunDir(run))
    assert len(rows) == 50 and rows[-1]["train/episode_steps"] < 30
    assert any((run / "tb").iterdir())
    dreamlab("eval", str(run), cwd=tmp_path)
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics["eval/return"] == 1.0 and metrics["eval/model_agreement"] == 1.0
    assert metrics["eval/steps"] == 14
    dreamlab(
        "collect",
        "dyna_maze",
        "--episodes",
        "3",
        "--policy",
        str(run),
        "--out",
        "store",
        cwd=tmp_path,
    )
    meta = json.loads((tmp_path / "store" / "metadata.json").read_text())
    assert meta["episodes"] == 3 and meta["steps"] == 3 * 14  # the greedy policy is optimal


@pytest.mark.parametrize(
    ("train", "kill_after"), [(SHORTCUT, 1500), (FROZEN, 4000)], ids=["maze", "slippery"]
)
def test_killed_run_resumes_to_the_same_result(
    tmp_path: Path, train: list[str], kill_after: int
) -> None:
    dreamlab(*train, "--name", "whole", cwd=tmp_path)
    whole = load_checkpoint(tmp_path / "runs" / "whole" / "checkpoints")

    proc = subprocess.Popen(
        [sys.executable, "-m", "dreamlab.cli", *train, "--name", "killed"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    checkpoints = tmp_path / "runs" / "killed" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline:
        latest = latest_checkpoint(checkpoints) if checkpoints.exists() else None
        if latest is not None and load_checkpoint(latest).step >= kill_after:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(checkpoints)
    assert not killed_at.meta["finished"] and killed_at.step < whole.step, (
        "the run ended before the kill"
    )

    dreamlab("train", "--resume", str(tmp_path / "runs" / "killed"), cwd=tmp_path)
    resumed = load_checkpoint(checkpoints)
    assert resumed.step == whole.step and resumed.meta == whole.meta
    assert resumed.tensors.keys() == whole.tensors.keys()
    for name, tensor in whole.tensors.items():
        assert torch.equal(resumed.tensors[name], tensor), name
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa: E731
    assert strip(read_metrics(RunDir(tmp_path / "runs" / "killed"))) == strip(
        read_metrics(RunDir(tmp_path / "runs" / "whole"))
    )


def test_corrupt_or_foreign_checkpoint_is_refused_and_kept(tmp_path: Path) -> None:
    dreamlab("train", "dyna", "--preset", "debug", "--name", "r", cwd=tmp_path)
    run = tmp_path / "runs" / "r"
    latest = latest_checkpoint(run / "checkpoints")
    assert latest is not None
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])  # truncated
    before = snapshot(run)
    one_line_error(dreamlab("train", "--resume", str(run), cwd=tmp_path, check=False), latest.name)
    one_line_error(dreamlab("eval", str(run), cwd=tmp_path, check=False), latest.name)
    assert snapshot(run) == before

    latest.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\x00" * 64)  # foreign bytes
    before = snapshot(run)
    one_line_error(dreamlab("eval", str(run), cwd=tmp_path, check=False), latest.name)
    assert snapshot(run) == before
