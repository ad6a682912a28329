"""V-JEPA: 3D multi-block masks, tubelet embedding, a predictor blind to masked tubelets, the EMA
schedule, the sprites labels, and a short run that checkpoints, resumes after a kill and probes."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamlab.algos.vjepa import train as vjepa_train
from dreamlab.algos.vjepa.config import PRESETS
from dreamlab.algos.vjepa.model import VideoViT, l1_loss, target_features, tubelets
from dreamlab.algos.vjepa.train import (
    LABELS,
    build,
    clip_labels,
    evaluate,
    make_clips,
    train,
    vjepa_loss,
)
from dreamlab.cli import get_system
from dreamlab.envs.sprites import CANVAS
from dreamlab.errors import DreamlabError
from dreamlab.nn.ema import ema_momentum
from dreamlab.nn.video_masks import block_size, sample_video_masks
from dreamlab.nn.vit import Predictor, sincos_3d
from dreamlab.train import config_to_dict, create_run, list_checkpoints, read_metrics
from dreamlab.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- masks

MASK_SETTINGS = [
    # grid (t, h, w), blocks, spatial scale
    ((4, 8, 8), 8, 0.15),  # the sprites preset, short range
    ((4, 8, 8), 2, 0.7),  # the sprites preset, long range
    ((8, 14, 14), 8, 0.15),  # the paper's grid: 16 frames of 224 with tubelets 2 x 16 x 16
    ((8, 14, 14), 2, 0.7),
]


def _aspect_allows(block: tuple[int, int], grid: tuple[int, int], scale: float) -> bool:
    """Whether some aspect ratio in [0.75, 1.5] gives this block at this scale."""
    return any(block_size(grid, scale, a) == block for a in np.linspace(0.75, 1.5, 301))


@pytest.mark.parametrize("setting", MASK_SETTINGS)
def test_masks_are_unions_of_whole_clip_blocks_and_their_complement(setting: tuple) -> None:
    (t, h, w), n_blocks, scale = setting
    shapes = set()
    for seed in range(10):
        masks = sample_video_masks(np.random.default_rng(seed), (t, h, w), 16, n_blocks, scale)
        ctx, tgt, fp = masks.context, masks.target, masks.footprints
        assert fp.shape == (16, n_blocks, h, w), "one footprint per block"
        assert ctx.dtype == tgt.dtype == torch.int64 and ctx.shape[0] == tgt.shape[0] == 16
        bh, bw = masks.block
        assert _aspect_allows(masks.block, (h, w), scale), masks.block
        # The spatial scale: the block covers int(scale h w) patches up to rounding of its sides.
        assert abs(bh * bw - int(scale * h * w)) <= bh + bw
        shapes.add(masks.block)
        for b in range(16):
            for block in fp[b]:
                rows, cols = torch.nonzero(block, as_tuple=True)
                # A full rectangle of the batch's block shape.
                assert int(block.sum()) == bh * bw
                assert int(rows.max() - rows.min()) + 1 == bh
                assert int(cols.max() - cols.min()) + 1 == bw
            union = fp[b].any(dim=0).flatten()  # [h w]
            c, m = ctx[b].tolist(), tgt[b].tolist()
            assert c == sorted(set(c)) and m == sorted(set(m))  # unique, raster order
            assert not set(c) & set(m), "context and masked tokens overlap"
            assert all(not union[i % (h * w)] for i in c), "a context token inside a block"
            assert all(union[i % (h * w)] for i in m), "a masked token outside every block"
    assert len(shapes) > 1, "the aspect ratio is drawn anew for every batch"


@pytest.mark.parametrize("setting", MASK_SETTINGS)
def test_a_single_clip_masks_exactly_its_blocks_in_every_time_slot(setting: tuple) -> None:
    (t, h, w), n_blocks, scale = setting
    for seed in range(10):
        masks = sample_video_masks(np.random.default_rng(seed), (t, h, w), 1, n_blocks, scale)
        union = masks.footprints[0].any(dim=0).flatten()  # [h w]
        # Nothing is cut for a batch of one: the blocks span the whole clip in time.
        expect = [s + k * h * w for k in range(t) for s in range(h * w) if union[s]]
        assert masks.target[0].tolist() == expect
        rest = [s + k * h * w for k in range(t) for s in range(h * w) if not union[s]]
        assert masks.context[0].tolist() == rest
        assert len(expect) + len(rest) == t * h * w


def test_the_sprites_preset_draws_8_short_and_2_long_range_blocks() -> None:
    cfg = PRESETS["sprites"]
    encoder, _ = build(dataclasses.replace(cfg, depth=1))
    short, long = vjepa_train.sample_masks(np.random.default_rng(0), encoder.grid, cfg)
    assert encoder.grid == (4, 8, 8)
    assert short.footprints.shape[1] == 8 and long.footprints.shape[1] == 2
    assert short.footprints[0, 0].sum() < long.footprints[0, 0].sum()
    assert block_size((8, 8), 0.15, 1.0) == (3, 3) and block_size((8, 8), 0.7, 1.0) == (7, 7)


def test_masks_are_reproducible_and_impossible_settings_fail() -> None:
    a = sample_video_masks(np.random.default_rng(7), (4, 8, 8), 8, 8, 0.15)
    b = sample_video_masks(np.random.default_rng(7), (4, 8, 8), 8, 8, 0.15)
    assert torch.equal(a.context, b.context) and torch.equal(a.target, b.target)
    with pytest.raises(DreamlabError, match="min_keep"):
        sample_video_masks(np.random.default_rng(0), (4, 8, 8), 2, 2, 0.7, min_keep=200)


# ----------------------------------------------------------------------------- model


def _tiny() -> tuple[VideoViT, Predictor]:
    torch.manual_seed(0)
    encoder = VideoViT(frames=4, image_size=32, patch=8, tubelet=2, dim=16, depth=2, heads=2)
    return encoder, Predictor(encoder.grid, dim=16, pred_dim=8, depth=1, heads=2)


def _tubelet_pixels(index: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """bool [T, H, W]: the pixels of the 2 x 8 x 8 tubelets in ``index``."""
    cells = torch.zeros(grid[0] * grid[1] * grid[2], dtype=torch.bool)
    cells[index.flatten()] = True
    return (
        cells.reshape(grid).repeat_interleave(2, 0).repeat_interleave(8, 1).repeat_interleave(8, 2)
    )


def test_tubelets_follow_the_conv3d_layout() -> None:
    encoder, _ = _tiny()
    x = torch.randn(3, 3, 4, 32, 32)
    every = torch.arange(encoder.tokens).expand(3, -1)
    torch.testing.assert_close(encoder(x, keep=every), encoder(x), rtol=1e-5, atol=1e-5)
    # Token 1 * 16 + 2 * 4 + 3: time slot 1, row 2, column 3.
    cell = tubelets(x, 2, 8)[1, 16 + 8 + 3]
    torch.testing.assert_close(cell, x[1, :, 2:4, 16:24, 24:32].flatten())


def test_3d_positions_split_time_rows_and_columns() -> None:
    pos = sincos_3d(3, 4, 5, 16).reshape(3, 4, 5, 16)
    assert pos.dtype == torch.float32
    # Half the features encode time only, a quarter the row, a quarter the column.
    assert torch.equal(pos[:, :1, :1, :8].expand(3, 4, 5, 8), pos[..., :8])
    assert torch.equal(pos[:1, :, :1, 8:12].expand(3, 4, 5, 4), pos[..., 8:12])
    assert torch.equal(pos[:1, :1, :, 12:].expand(3, 4, 5, 4), pos[..., 12:])
    assert len({tuple(v.tolist()) for v in pos.reshape(60, 16)}) == 60
    with pytest.raises(ValueError, match="divisible by 8"):
        sincos_3d(2, 2, 2, 12)


def test_the_context_encoder_and_predictor_never_see_masked_tubelets() -> None:
    encoder, predictor = _tiny()
    masks = sample_video_masks(np.random.default_rng(3), encoder.grid, 4, 2, 0.4)
    x = torch.randn(4, 3, 4, 32, 32)
    changed = x.clone()
    for b in range(4):
        hidden = _tubelet_pixels(masks.target[b], encoder.grid)
        changed[b][:, hidden] = torch.randn(3, int(hidden.sum())) * 5
    with torch.no_grad():
        ctx, ctx2 = encoder(x, keep=masks.context), encoder(changed, keep=masks.context)
        pred = predictor(ctx, masks.context, masks.target[:, None])
        pred2 = predictor(ctx2, masks.context, masks.target[:, None])
        assert torch.equal(ctx, ctx2) and torch.equal(pred, pred2)
        # Not vacuous: the target encoder sees the change, and a context pixel changes the context.
        assert not torch.equal(encoder(x), encoder(changed))
        poked = x.clone()
        poked[0][:, _tubelet_pixels(masks.context[0, :1], encoder.grid)] += 1.0
        assert not torch.equal(encoder(poked, keep=masks.context)[0], ctx[0])
    assert pred.shape == (4, 1, masks.target.shape[1], 16)


def test_loss_is_l1_on_layer_normed_targets_averaged_over_mask_sets() -> None:
    encoder, predictor = _tiny()
    target = VideoViT(frames=4, image_size=32, patch=8, tubelet=2, dim=16, depth=2, heads=2)
    rng = np.random.default_rng(0)
    sets = [
        sample_video_masks(rng, encoder.grid, 2, 8, 0.15),
        sample_video_masks(rng, encoder.grid, 2, 2, 0.5),
    ]
    x = torch.randn(2, 3, 4, 32, 32)
    loss, tokens = vjepa_loss(encoder, predictor, target, x, sets)
    with torch.no_grad():
        parts = []
        for m in sets:
            pred = predictor(encoder(x, keep=m.context), m.context, m.target[:, None])[:, 0]
            s_y = target_features(target(x), m.target)
            torch.testing.assert_close(
                s_y.mean(-1), torch.zeros_like(s_y[..., 0]), atol=1e-5, rtol=0
            )
            parts.append((pred - s_y).abs().mean())
    torch.testing.assert_close(loss.detach(), (parts[0] + parts[1]) / 2)
    assert tokens.shape == (2, encoder.tokens, 16) and not tokens.requires_grad
    s = torch.randn(2, 5, 16)
    assert l1_loss(s.clone(), s) == 0 and l1_loss(s + 0.5, s) == pytest.approx(0.5)


def test_ema_momentum_runs_from_0998_at_step_0_to_1_at_the_end() -> None:
    cfg = PRESETS["sprites"]
    ms = [ema_momentum(s, cfg.steps, cfg.ema_start, cfg.ema_end) for s in range(cfg.steps)]
    assert ms[0] == pytest.approx(0.998, abs=1e-12) and ms[-1] == pytest.approx(1.0, abs=1e-12)
    assert all(b >= a for a, b in itertools.pairwise(ms))


# ----------------------------------------------------------------------------- data


def test_sprites_labels_are_balanced_and_describe_the_clip() -> None:
    cfg = PRESETS["sprites"]
    data = make_clips(cfg, 400, seed=5)
    labels = clip_labels(data)
    again = clip_labels(make_clips(cfg, 400, seed=5))
    assert data.frames.shape == (400, cfg.frames, CANVAS, CANVAS, 3)
    for name, classes in LABELS.items():
        y = labels[name]
        assert np.array_equal(y, again[name]) and y.dtype == np.int64
        share = np.bincount(y, minlength=len(classes)) / len(y)
        assert share.min() > 0.15, (name, share)  # balanced: 0.25 each in expectation
    # The agent is the white sprite, drawn on top: its pixels in the last frame sit in its quadrant.
    white = (data.frames[:, -1] == 255).all(axis=-1)  # [n, 64, 64]
    rows, cols = np.arange(CANVAS)[None, :, None], np.arange(CANVAS)[None, None, :]
    count = white.sum(axis=(1, 2))
    cy = (white * rows).sum(axis=(1, 2)) / count
    cx = (white * cols).sum(axis=(1, 2)) / count
    quadrant = (cy + 0.5 >= 32) * 2 + (cx + 0.5 >= 32)
    assert (quadrant == labels["agent_quadrant"]).mean() > 0.95


# ----------------------------------------------------------------------------- a short run


def test_a_debug_run_trains_checkpoints_resumes_after_a_kill_and_probes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = PRESETS["debug"]
    straight = create_run(tmp_path, "vjepa", "sprites", config_to_dict(cfg), "straight")
    results = train(cfg, "sprites", straight)
    names = set(LABELS)
    assert set(results) == (
        {f"probe/{n}" for n in names} | {f"attentive/{n}" for n in names} | {"probe/feature_std"}
    )
    assert all(0.0 <= v <= 1.0 for k, v in results.items() if k != "probe/feature_std")
    assert results["probe/feature_std"] > 0
    rows = read_metrics(straight)
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert len(losses) == 3 and all(np.isfinite(losses))
    momenta = [r["train/ema_momentum"] for r in rows if "train/ema_momentum" in r]
    assert momenta[-1] == pytest.approx(1.0)  # the last update's momentum
    assert [c.name for c in list_checkpoints(straight.checkpoints / "vjepa")] == [
        "ckpt_000000030.safetensors"
    ]

    # Kill a second run after its step-20 checkpoint, then resume it: it must end where the
    # uninterrupted run ended, bit for bit (the data stream and masks come from the saved RNG).
    killed = create_run(tmp_path, "vjepa", "sprites", config_to_dict(cfg), "killed")
    real_update = vjepa_train.ema_update
    calls = itertools.count(1)

    def dying_update(target: torch.nn.Module, online: torch.nn.Module, m: float) -> None:
        if next(calls) > 25:
            raise KeyboardInterrupt
        real_update(target, online, m)

    monkeypatch.setattr(vjepa_train, "ema_update", dying_update)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, "sprites", killed)
    assert [c.name for c in list_checkpoints(killed.checkpoints / "vjepa")] == [
        "ckpt_000000020.safetensors"
    ]
    monkeypatch.setattr(vjepa_train, "ema_update", real_update)
    assert train(cfg, "sprites", killed, resume=True) == results
    a = load_checkpoint(straight.checkpoints / "vjepa").tensors
    b = load_checkpoint(killed.checkpoints / "vjepa").tensors
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["train/loss"] for r in read_metrics(killed) if "train/loss" in r] == losses
    assert json.loads((killed.path / "summary.json").read_text())["steps"] == 30

    scores = evaluate(straight)
    for name in names:
        assert scores[f"eval/probe/{name}"] == results[f"probe/{name}"]
        for kind in ("attentive", "random_init", "random_init_attentive"):
            assert 0.0 <= scores[f"eval/{kind}/{name}"] <= 1.0
    assert scores["eval/feature_std"] > 0


def test_the_registry_knows_vjepa() -> None:
    spec = get_system("vjepa")
    assert spec.name == "vjepa" and spec.datasets == ("sprites",) and "sprites" in spec.presets
