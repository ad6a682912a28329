"""The MAE baseline of I-JEPA: per-patch normalised pixel targets, an encoder blind to the target
pixels, and a short run of the ``mae`` objective that trains, checkpoints and probes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamlab.algos.ijepa.config import PRESETS
from dreamlab.algos.ijepa.mae import mae_loss, pixel_targets, reconstruction_loss
from dreamlab.algos.ijepa.masks import Masks, sample_masks
from dreamlab.algos.ijepa.model import Predictor, ViTEncoder, gather_tokens, patchify
from dreamlab.algos.ijepa.train import build, evaluate, train
from dreamlab.data.shapes import LABELS
from dreamlab.train import config_to_dict, create_run, list_checkpoints, read_metrics
from dreamlab.train.checkpoint import load_checkpoint

PATCH = 4


pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_mae() -> tuple[ViTEncoder, Predictor]:
    cfg = dataclasses.replace(
        PRESETS["debug"], objective="mae", image_size=16, width=16, depth=2, pred_width=8
    )
    torch.manual_seed(0)
    return build(cfg)


def _masks(seed: int = 3, batch: int = 4) -> Masks:
    return sample_masks(np.random.default_rng(seed), (4, 4), batch, 2, (0.15, 0.2), min_keep=2)


def test_pixel_targets_are_each_target_patch_normalised_on_its_own() -> None:
    x = torch.randn(2, 3, 16, 16) * 0.5 + 0.2
    idx = torch.tensor([[[0, 1, 4, 5]], [[10, 11, 14, 15]]])  # [B, M=1, Nt=4] on a 4 x 4 grid
    t = pixel_targets(x, idx, PATCH)
    assert t.shape == (2, 1, 4, 3 * PATCH * PATCH)
    torch.testing.assert_close(t.mean(-1), torch.zeros(2, 1, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(t.var(-1), torch.ones(2, 1, 4), atol=1e-3, rtol=0)
    # Patch 14 of image 1 sits at row 3, column 2: its pixels, channel first, normalised.
    raw = x[1, :, 12:16, 8:12].flatten()
    torch.testing.assert_close(t[1, 0, 2], (raw - raw.mean()) / (raw.var() + 1e-6).sqrt())


def test_the_loss_is_zero_exactly_at_the_normalised_target_pixels() -> None:
    encoder, decoder = _tiny_mae()
    masks = _masks()
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    target = pixel_targets(x, masks.targets, PATCH)
    assert reconstruction_loss(target.clone(), x, masks.targets, PATCH) == 0
    assert reconstruction_loss(target + 0.1, x, masks.targets, PATCH) > 0
    # The raw (unnormalised) pixels of the target patches are not the target.
    raw = gather_tokens(patchify(x, PATCH), masks.targets)
    assert reconstruction_loss(raw, x, masks.targets, PATCH) > 0.1

    # Through the whole loss: a decoder that outputs exactly the normalised pixels scores 0.
    def perfect(_ctx: torch.Tensor, _ctx_idx: torch.Tensor, tgt_idx: torch.Tensor) -> torch.Tensor:
        return pixel_targets(x, tgt_idx, PATCH)

    decoder.forward = perfect  # type: ignore[method-assign,assignment]
    assert mae_loss(encoder, decoder, x, masks) == 0


def test_the_mae_encoder_and_decoder_never_see_target_pixels() -> None:
    encoder, decoder = _tiny_mae()
    masks = _masks()
    x = torch.randn(4, 3, 16, 16)
    changed = x.clone()
    for b in range(4):
        cells = torch.zeros(16, dtype=torch.bool)
        cells[masks.targets[b].flatten()] = True
        hidden = cells.reshape(4, 4).repeat_interleave(PATCH, 0).repeat_interleave(PATCH, 1)
        changed[b][:, hidden] = torch.randn(3, int(hidden.sum())) * 5
    with torch.no_grad():
        ctx, ctx2 = encoder(x, keep=masks.context), encoder(changed, keep=masks.context)
        pred = decoder(ctx, masks.context, masks.targets)
        pred2 = decoder(ctx2, masks.context, masks.targets)
        assert torch.equal(ctx, ctx2) and torch.equal(pred, pred2)
        assert pred.shape == (*masks.targets.shape, 3 * PATCH * PATCH)
        # Not vacuous: the loss (which reads the targets) does see the change.
        assert mae_loss(encoder, decoder, x, masks) != mae_loss(encoder, decoder, changed, masks)


def test_both_objectives_start_from_the_same_encoder() -> None:
    cfg = PRESETS["debug"]
    torch.manual_seed(5)
    jepa_encoder, predictor = build(cfg)
    torch.manual_seed(5)
    mae_encoder, decoder = build(dataclasses.replace(cfg, objective="mae"))
    for a, b in zip(jepa_encoder.parameters(), mae_encoder.parameters(), strict=True):
        assert torch.equal(a, b)
    assert predictor.out.out_features == cfg.width
    assert decoder.out.out_features == 3 * cfg.patch**2


def test_a_debug_mae_run_trains_checkpoints_and_probes(tmp_path: Path) -> None:
    cfg = dataclasses.replace(PRESETS["debug"], objective="mae")
    run = create_run(tmp_path, "ijepa", "shapes", config_to_dict(cfg))
    results = train(cfg, "shapes", run)
    assert set(results) == {f"probe/{name}" for name in LABELS} | {"probe/feature_std"}
    assert all(0.0 <= results[f"probe/{name}"] <= 1.0 for name in LABELS)
    assert results["probe/feature_std"] > 0
    rows = read_metrics(run)
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert not any("train/ema_momentum" in r for r in rows)  # no target encoder to move
    # The checkpoint holds the encoder and the pixel decoder, and no target encoder.
    ckpts = list_checkpoints(run.checkpoints / "ijepa")
    assert [c.name for c in ckpts] == ["ckpt_000000030.safetensors"]
    tensors = load_checkpoint(run.checkpoints / "ijepa").tensors
    assert not any(k.startswith("target.") for k in tensors)
    assert tensors["predictor.out.weight"].shape == (3 * cfg.patch**2, cfg.pred_width)
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["steps"] == 30 and 0 < summary["train_minutes"] <= summary["minutes"]
    # A resumed, finished run takes no step and scores the same encoder the same way.
    assert train(cfg, "shapes", run, resume=True) == results
    scores = evaluate(run)
    assert scores["eval/probe/shape"] == results["probe/shape"]
    for name in LABELS:
        for kind in ("attentive", "pixels", "random_init"):
            assert 0.0 <= scores[f"eval/{kind}/{name}"] <= 1.0
