"""The JEPA pretraining loop shared by I-JEPA and V-JEPA: schedules, optimiser groups, probes,
and a toy run that is killed, resumed, and ends bit for bit where an uninterrupted run ends."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dreamlab.nn.ema import ema_momentum, ema_update
from dreamlab.train import create_run, load_checkpoint, open_run, read_metrics
from dreamlab.train.jepa_loop import (
    JEPALoop,
    encode_in_batches,
    jepa_adamw,
    linear_probes,
    lr_at,
)


@dataclass(frozen=True)
class ToyConfig:
    """The fields JEPALoop reads, with values that make every schedule visible in 12 steps."""

    steps: int = 12
    lr: float = 0.1
    lr_start: float = 0.01
    lr_end: float = 0.001
    warmup_steps: int = 3
    weight_decay: float = 0.05
    ema_start: float = 0.9
    ema_end: float = 1.0
    log_every: int = 2
    checkpoint_every: int = 5


# ----------------------------------------------------------------------------- schedules


def test_the_learning_rate_warms_up_linearly_then_decays_by_a_cosine_to_its_end() -> None:
    cfg = ToyConfig(steps=101, warmup_steps=10)
    lrs = [lr_at(s, cfg) for s in range(cfg.steps)]
    assert lrs[0] == cfg.lr_start
    assert lrs[5] == pytest.approx((cfg.lr_start + cfg.lr) / 2)  # half way up the ramp
    assert lrs[10] == pytest.approx(cfg.lr)  # the peak right after the warm-up
    assert lrs[-1] == pytest.approx(cfg.lr_end, abs=1e-15)  # the end at the last update
    assert lrs[55] == pytest.approx((cfg.lr + cfg.lr_end) / 2)  # cosine: half way at mid-decay
    assert all(b > a for a, b in itertools.pairwise(lrs[:11]))
    assert all(b < a for a, b in itertools.pairwise(lrs[10:]))
    assert lr_at(10 * cfg.steps, cfg) == pytest.approx(cfg.lr_end)  # and stays there


def test_the_loop_sets_every_group_and_hands_out_the_momentum(tmp_path: Path) -> None:
    cfg = ToyConfig()
    net = nn.Linear(3, 2)
    opt = jepa_adamw(cfg, [net])
    loop = JEPALoop(create_run(tmp_path, "toy", "none", {}), "toy", {"net": net}, opt,
                    np.random.default_rng(0), cfg)  # fmt: skip
    momenta = []
    for step in range(cfg.steps):
        loop.step = step
        lr, m = loop.schedule()
        assert lr == lr_at(step, cfg)
        assert [g["lr"] for g in opt.param_groups] == [lr, lr]
        momenta.append(m)
    assert momenta[0] == cfg.ema_start and momenta[-1] == pytest.approx(cfg.ema_end)
    assert momenta == [ema_momentum(s, cfg.steps, cfg.ema_start, cfg.ema_end) for s in range(12)]


def test_weight_decay_falls_on_matrices_and_kernels_only() -> None:
    cfg = ToyConfig()
    conv, norm = nn.Conv2d(3, 4, 3), nn.LayerNorm(4)
    token = nn.ParameterDict({"mask": nn.Parameter(torch.zeros(4))})
    opt = jepa_adamw(cfg, [conv, norm, token])
    decay, rest = opt.param_groups
    assert decay["weight_decay"] == cfg.weight_decay and rest["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [conv.weight.shape]
    assert {id(p) for p in rest["params"]} == {
        id(conv.bias),
        id(norm.weight),
        id(norm.bias),
        id(token["mask"]),
    }
    assert all(g["lr"] == cfg.lr_start for g in opt.param_groups)


# ----------------------------------------------------------------------------- probes


def test_encoding_in_batches_matches_encoding_at_once_and_freezes_the_encoder() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(1), nn.Linear(12, 5), nn.Dropout(0.5)).train()
    data = np.random.default_rng(0).integers(0, 256, (11, 2, 2, 3), dtype=np.uint8)

    def to_input(x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255.0

    tokens = encode_in_batches(encoder, data, to_input, batch=4)  # 4 + 4 + 3
    assert not encoder.training  # eval mode: dropout off, so the chunks agree with one pass
    assert tokens.shape == (11, 5) and not tokens.requires_grad
    torch.testing.assert_close(tokens, encoder(to_input(torch.from_numpy(data))))


def test_linear_probes_score_each_label_on_its_own() -> None:
    g = np.random.default_rng(0)
    y = g.integers(0, 3, 600)
    x = torch.from_numpy(np.eye(3)[y] * 3 + g.normal(size=(600, 3))).float()
    noise = g.integers(0, 3, 600)  # a label the features say nothing about
    labels = {"read": y, "noise": noise}
    acc = linear_probes(
        x[:400], {k: v[:400] for k, v in labels.items()},
        x[400:], {k: v[400:] for k, v in labels.items()},
        epochs=100, lr=0.05, seed=0,
    )  # fmt: skip
    assert list(acc) == ["read", "noise"]
    assert acc["read"] > 0.8 and acc["noise"] < 0.5


# ----------------------------------------------------------------------------- a toy run


def _toy_run(
    run_dir: Path, cfg: ToyConfig, resume: bool = False, die_at: int | None = None
) -> tuple[list[tuple[int, float, float]], dict[str, float]]:
    """A JEPA-shaped run of a linear online net and its EMA target on random inputs; returns
    (step, lr, momentum) of every update it makes and the finished results."""
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    target = copy.deepcopy(net).requires_grad_(False)
    opt = jepa_adamw(cfg, [net])
    if resume:
        run = open_run(run_dir)[0]
    else:
        run = create_run(run_dir.parent, "toy", "none", {}, run_dir.name)
    modules: dict[str, nn.Module] = {"net": net, "target": target}
    loop = JEPALoop(run, "toy", modules, opt, np.random.default_rng(0), cfg, resume)
    rng = loop.rng
    made: list[tuple[int, float, float]] = []
    with loop.running("toy"):
        while loop.step < cfg.steps:
            if loop.step == die_at:
                raise KeyboardInterrupt
            lr, m = loop.schedule()
            x = torch.from_numpy(rng.normal(size=(8, 3))).float()
            loss = (net(x) - target(x) - x[:, :2]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            ema_update(target, net, m)
            made.append((loop.step, lr, m))
            loop.advance()
            if loop.log_due():
                loop.log({"train/loss": loss.item(), "train/lr": lr})
            loop.save_if_due()
        loop.end_training()
        return made, loop.finish({"weight_sum": float(net.weight.detach().sum())})


def _rows(path: Path) -> list[dict[str, float]]:
    """The run's metrics rows without their wall-clock times."""
    return [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(open_run(path)[0])]


def test_a_killed_run_resumes_its_schedules_at_the_checkpoint_and_ends_bit_for_bit(
    tmp_path: Path,
) -> None:
    cfg = ToyConfig()
    made, results = _toy_run(tmp_path / "straight", cfg)
    assert [s for s, _, _ in made] == list(range(cfg.steps))
    assert made == [
        (s, lr_at(s, cfg), ema_momentum(s, cfg.steps, cfg.ema_start, cfg.ema_end))
        for s in range(cfg.steps)
    ]
    rows = _rows(tmp_path / "straight")
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12, 12]  # every 2nd, then eval/
    assert rows[-1] == {"step": 12, "eval/weight_sum": results["weight_sum"]}
    summary = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["weight_sum"] == results["weight_sum"]
    assert 0 <= summary["train_minutes"] <= summary["minutes"]

    # Killed before update 8: the latest checkpoint is step 5, and row 6 was logged after it.
    with pytest.raises(KeyboardInterrupt):
        _toy_run(tmp_path / "killed", cfg, die_at=8)
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "toy").step == 5
    resumed, again = _toy_run(tmp_path / "killed", cfg, resume=True)
    assert resumed == made[5:]  # the schedules go on from step 5, not from 0
    assert again == results
    assert _rows(tmp_path / "killed") == rows  # row 6 is logged once, not twice
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "toy")
    b = load_checkpoint(tmp_path / "killed" / "checkpoints" / "toy")
    assert a.step == b.step == 12
    assert a.tensors.keys() == b.tensors.keys()
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)

    # A finished run resumed again takes no step and keeps its only checkpoint.
    none, same = _toy_run(tmp_path / "killed", cfg, resume=True)
    assert none == [] and same == results


def test_the_last_step_is_saved_even_off_the_checkpoint_grid(tmp_path: Path) -> None:
    cfg = replace(ToyConfig(), steps=7, checkpoint_every=100)
    _toy_run(tmp_path / "run", cfg)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "toy").step == 7


def test_logging_outside_the_running_block_is_a_clear_error(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    cfg = ToyConfig()
    loop = JEPALoop(create_run(tmp_path, "toy", "none", {}), "toy", {"net": net},
                    jepa_adamw(cfg, [net]), np.random.default_rng(0), cfg)  # fmt: skip
    with pytest.raises(RuntimeError, match=r"outside 'with loop.running"):
        loop.log({"train/loss": 1.0})
    with pytest.raises(RuntimeError, match=r"outside 'with loop.running"):
        loop.finish({})
