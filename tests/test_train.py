"""Checkpoints, RNG state, run folders and metrics: real files in tmp_path."""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dreamlab.errors import DreamlabError
from dreamlab.train import (
    CheckpointError,
    MetricsLogger,
    atomic_write_text,
    create_run,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    numpy_rng_state,
    open_run,
    python_rng_state,
    read_metrics,
    restore_numpy_rng,
    restore_python_rng,
    restore_torch_rng,
    save_checkpoint,
    seed_everything,
    torch_rng_state,
    truncate_metrics,
)

# ----------------------------------------------------------------------------- checkpoints


def _tensors() -> dict[str, torch.Tensor | np.ndarray]:
    g = torch.Generator().manual_seed(0)
    return {
        "f32": torch.randn(3, 4, generator=g),
        "f64": torch.randn(5, generator=g, dtype=torch.float64),
        "i64": torch.tensor([-(2**62), 0, 2**62 + 7], dtype=torch.int64),
        "u8": torch.arange(256, dtype=torch.uint8).reshape(16, 16),
        "bool": torch.tensor([True, False, True]),
        "np_f32": np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32),
        "np_f64": np.array([np.pi, -np.e, 1e-300]),
        "np_i64": np.array([2**63 - 1, -(2**63)], dtype=np.int64),
        "np_u8": np.array([[0, 255], [7, 128]], dtype=np.uint8),
        "np_bool": np.array([False, True]),
        "np_strided": np.arange(20, dtype=np.float32)[::3],
        "scalar": torch.tensor(3.5),
    }


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    tensors = _tensors()
    meta = {"epoch": 3, "rng": numpy_rng_state(np.random.default_rng(5)), "note": "héllo"}
    path = save_checkpoint(tmp_path, 42, tensors, meta)
    assert path.name == "ckpt_000000042.safetensors"
    assert (tmp_path / "ckpt_000000042.json").exists()

    for target in (path, tmp_path / "ckpt_000000042.json", tmp_path):
        ckpt = load_checkpoint(target)
        assert ckpt.step == 42
        assert ckpt.meta == meta
        assert set(ckpt.tensors) == set(tensors)
        for name, value in tensors.items():
            expected = (
                torch.from_numpy(np.ascontiguousarray(value))
                if isinstance(value, np.ndarray)
                else value
            )
            got = ckpt.tensors[name]
            assert got.dtype == expected.dtype, name
            assert torch.equal(got, expected), name


def test_checkpoint_files_carry_format_and_sha(tmp_path):
    path = save_checkpoint(tmp_path, 7, {"x": torch.ones(2)}, {"a": 1})
    body = json.loads(path.with_suffix(".json").read_text())
    assert body["format"] == "dreamlab-checkpoint" and body["version"] == "1" and body["step"] == 7
    assert len(body["sha256"]) == 64
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    assert header["__metadata__"]["format"] == "dreamlab-checkpoint"
    assert header["__metadata__"]["version"] == "1"
    # Atomic writes leave no temp files behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt_000000007.json",
        "ckpt_000000007.safetensors",
    ]


def test_tied_tensors_are_saved(tmp_path):
    w = torch.randn(3, 3)
    save_checkpoint(tmp_path, 1, {"a": w, "b": w}, {})
    ckpt = load_checkpoint(tmp_path)
    assert torch.equal(ckpt.tensors["a"], w) and torch.equal(ckpt.tensors["b"], w)


def test_keep_keeps_the_newest(tmp_path):
    for step in (10, 20, 30, 40, 50):
        save_checkpoint(tmp_path, step, {"s": torch.tensor([step])}, {}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "ckpt_000000040.safetensors",
        "ckpt_000000050.safetensors",
    ]
    assert len(list(tmp_path.iterdir())) == 4
    assert load_checkpoint(tmp_path).step == 50
    # The tensors file of a save killed before its JSON is cleaned up by a later save.
    save_checkpoint(tmp_path, 55, {}, {}, keep=2).with_suffix(".json").unlink()
    save_checkpoint(tmp_path, 60, {}, {}, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt_000000050.json",
        "ckpt_000000050.safetensors",
        "ckpt_000000060.json",
        "ckpt_000000060.safetensors",
    ]


def test_keep_never_removes_newer_checkpoints(tmp_path):
    # Resuming from an older checkpoint must not lose later ones, nor the one just written.
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"s": torch.tensor([step])}, {}, keep=1)
    save_checkpoint(tmp_path, 100, {}, {}, keep=1)
    save_checkpoint(tmp_path, 4, {}, {}, keep=1)
    steps = [int(p.stem[5:]) for p in list_checkpoints(tmp_path)]
    assert steps == [4, 100]


def test_latest_checkpoint_skips_incomplete(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path / "missing") is None
    save_checkpoint(tmp_path, 5, {"x": torch.zeros(1)}, {})
    newer = save_checkpoint(tmp_path, 9, {"x": torch.ones(1)}, {})
    newer.with_suffix(".json").unlink()  # killed between the two writes
    latest = latest_checkpoint(tmp_path)
    assert latest is not None and latest.name == "ckpt_000000005.safetensors"
    assert load_checkpoint(tmp_path).step == 5
    # A JSON that is not ours also makes the checkpoint incomplete.
    (tmp_path / "ckpt_000000009.json").write_text('{"hello": 1}')
    assert load_checkpoint(tmp_path).step == 5


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _assert_one_line_error(target, *fragments):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(target)
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, DreamlabError)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_truncated_checkpoint_is_rejected_and_left_alone(tmp_path):
    path = save_checkpoint(tmp_path, 3, {"w": torch.randn(64, 64)}, {})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = _snapshot(tmp_path)
    _assert_one_line_error(path, path.name, "truncated")
    _assert_one_line_error(tmp_path, path.name, "truncated")
    _assert_one_line_error(path.with_suffix(".json"), path.name, "truncated")
    assert _snapshot(tmp_path) == before


def test_modified_checkpoint_fails_sha(tmp_path):
    path = save_checkpoint(tmp_path, 3, {"w": torch.zeros(16)}, {})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same length, one tensor byte flipped
    path.write_bytes(bytes(data))
    _assert_one_line_error(path, path.name, "sha256")


def test_foreign_files_are_rejected_and_left_alone(tmp_path):
    foreign_st = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(3)}, str(foreign_st), metadata={"format": "pt"})
    random_bin = tmp_path / "weights.bin"
    random_bin.write_bytes(np.random.default_rng(0).bytes(4096))
    random_st = tmp_path / "ckpt_000000001.safetensors"
    random_st.write_bytes(np.random.default_rng(1).bytes(4096))
    other_json = tmp_path / "results.json"
    other_json.write_text(json.dumps({"benchmark": "x", "metrics": {}}))
    broken_json = tmp_path / "ckpt_000000002.json"
    broken_json.write_text('{"format": "dreamlab-checkpoint", ')
    before = _snapshot(tmp_path)

    _assert_one_line_error(foreign_st, "model.safetensors", "not a dreamlab checkpoint")
    _assert_one_line_error(random_bin, "weights.bin", "not a dreamlab checkpoint")
    _assert_one_line_error(random_st, "ckpt_000000001.safetensors", "not a safetensors file")
    _assert_one_line_error(other_json, "results.json", "not a dreamlab checkpoint")
    _assert_one_line_error(broken_json, "ckpt_000000002.json", "unreadable JSON")
    _assert_one_line_error(tmp_path, "no complete checkpoint", str(tmp_path))
    _assert_one_line_error(tmp_path / "nope.safetensors", "nope.safetensors", "no such file")
    assert _snapshot(tmp_path) == before


def test_missing_partner_file(tmp_path):
    path = save_checkpoint(tmp_path, 8, {"x": torch.ones(1)}, {})
    path.with_suffix(".json").unlink()
    _assert_one_line_error(path, "ckpt_000000008.json", "missing")
    path2 = save_checkpoint(tmp_path, 9, {"x": torch.ones(1)}, {})
    path2.unlink()
    _assert_one_line_error(path2.with_suffix(".json"), "ckpt_000000009.safetensors", "missing")


def test_bad_meta_writes_nothing(tmp_path):
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path, 1, {"x": torch.ones(1)}, {"bad": object()})
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path, 1, {"x": torch.ones(1)}, {"step": 3})
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- seeding


def test_numpy_rng_round_trip_through_json():
    rng = np.random.default_rng(123)
    rng.standard_normal(7)
    state = json.loads(json.dumps(numpy_rng_state(rng)))
    expected = rng.standard_normal(10)
    restored = restore_numpy_rng(state)
    assert np.array_equal(restored.standard_normal(10), expected)
    mt = np.random.Generator(np.random.MT19937(4))
    mt_state = json.loads(json.dumps(numpy_rng_state(mt)))
    assert np.array_equal(restore_numpy_rng(mt_state).integers(0, 1000, 5), mt.integers(0, 1000, 5))
    with pytest.raises(DreamlabError):
        restore_numpy_rng({"bit_generator": "os.system"})


def test_torch_rng_round_trip_through_checkpoint(tmp_path):
    torch.manual_seed(9)
    torch.rand(3)
    save_checkpoint(tmp_path, 1, {"torch_rng": torch_rng_state()}, {})
    expected = torch.rand(5)
    torch.rand(100)  # move on, then go back
    restore_torch_rng(load_checkpoint(tmp_path).tensors["torch_rng"])
    assert torch.equal(torch.rand(5), expected)


def test_python_rng_round_trip_through_json():
    rng = random.Random(77)
    rng.random()
    rng.gauss(0, 1)  # leaves a cached gauss_next in the state
    state = json.loads(json.dumps(python_rng_state(rng)))
    expected = [rng.gauss(0, 1), rng.random(), rng.randint(0, 10**9)]
    restored = restore_python_rng(state)
    assert [restored.gauss(0, 1), restored.random(), restored.randint(0, 10**9)] == expected


def test_seed_everything_is_reproducible():
    def draw():
        g = seed_everything(11)
        return random.random(), np.random.rand(), torch.rand(1).item(), g.random()

    first, second = draw(), draw()
    assert first == second
    seed_everything(12)
    assert random.random() != first[0]


# ----------------------------------------------------------------------------- run folders


def test_create_and_open_run(tmp_path):
    config = {"lr": 0.001, "sizes": [64, 64]}
    run = create_run(tmp_path, "dyna", "cartpole", config)
    assert run.path.parent == tmp_path and run.path.name.startswith("dyna-cartpole-")
    for sub in (run.checkpoints, run.videos, run.tensorboard):
        assert sub.is_dir()
    opened, body = open_run(run.path)
    assert opened == run
    assert body["system"] == "dyna" and body["env"] == "cartpole" and body["config"] == config
    assert "created" in body and "dreamlab_version" in body

    named = [create_run(tmp_path, "dyna", "cartpole", {}, name="exp").path.name for _ in range(3)]
    assert named == ["exp", "exp-1", "exp-2"]


def test_open_run_errors(tmp_path):
    with pytest.raises(DreamlabError, match="does not exist"):
        open_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DreamlabError, match=r"config\.json is missing"):
        open_run(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json\n")
    with pytest.raises(DreamlabError, match="unreadable") as info:
        open_run(bad)
    assert "\n" not in str(info.value)
    atomic_write_text(bad / "config.json", '{"system": "x"}')
    with pytest.raises(DreamlabError, match="lacks"):
        open_run(bad)


def test_metrics_logger_writes_jsonl_and_tensorboard(tmp_path):
    run = create_run(tmp_path, "dyna", "cartpole", {})
    with MetricsLogger(run) as log:
        log.log(1, {"train/loss/reward": 0.5, "eval/return": 10.0})
        # Flushed at once: a reader sees the line before close.
        assert read_metrics(run)[0]["train/loss/reward"] == 0.5
        log.log(2, {"train/loss/reward": torch.tensor(0.25), "eval/return": np.float32(12.0)})
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[1]["train/loss/reward"] == 0.25 and rows[1]["eval/return"] == 12.0
    assert all(isinstance(r["time"], float) for r in rows)
    events = list(run.tensorboard.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run.tensorboard))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"train/loss/reward", "eval/return"}
    assert [(e.step, e.value) for e in acc.Scalars("eval/return")] == [(1, 10.0), (2, 12.0)]


def test_metrics_logger_without_tensorboard(tmp_path):
    run = create_run(tmp_path, "dyna", "cartpole", {})
    with MetricsLogger(run, tensorboard=False) as log:
        log.log(0, {"eval/return": 1.0})
    assert list(run.tensorboard.iterdir()) == []
    assert len(read_metrics(run)) == 1


def test_truncate_metrics_matches_uninterrupted_run(tmp_path):
    run = create_run(tmp_path, "dyna", "cartpole", {})
    with MetricsLogger(run, tensorboard=False) as log:
        for step in range(0, 100, 10):
            log.log(step, {"x": float(step)})
    full = run.metrics_path.read_text().splitlines()
    with run.metrics_path.open("a") as f:
        f.write('{"step": 100, "x": 1')  # torn line of a killed run
    truncate_metrics(run, after_step=50)
    assert run.metrics_path.read_text().splitlines() == full[:6]
    # Resumed logging continues the same file.
    with MetricsLogger(run, tensorboard=False) as log:
        log.log(60, {"x": 60.0})
    assert [r["step"] for r in read_metrics(run)] == [0, 10, 20, 30, 40, 50, 60]
