"""I-JEPA: multi-block masks, the context encoder's blindness to targets, EMA, loss, probes, the
shapes data set and a short run that checkpoints and resumes."""

from __future__ import annotations

import colorsys
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamlab.algos.ijepa.config import PRESETS
from dreamlab.algos.ijepa.masks import Masks, sample_masks
from dreamlab.algos.ijepa.model import (
    Predictor,
    ViTEncoder,
    ema_momentum,
    ema_update,
    gather_tokens,
    prediction_loss,
    sincos_2d,
    target_features,
)
from dreamlab.algos.ijepa.train import evaluate, lr_at, train
from dreamlab.data.shapes import LABELS, digits, make_shapes
from dreamlab.errors import DreamlabError
from dreamlab.eval.probes import attentive_probe, feature_std, linear_probe
from dreamlab.train import config_to_dict, create_run, list_checkpoints, read_metrics

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- masks

MASK_SETTINGS = [
    # grid, n_targets, target_scale, target_aspect, context_scale, min_keep
    ((8, 8), 4, (0.15, 0.2), (0.75, 1.5), (0.85, 1.0), 10),
    ((14, 14), 4, (0.15, 0.2), (0.75, 1.5), (0.85, 1.0), 10),  # the paper's grid
    ((16, 12), 3, (0.08, 0.12), (2.0, 3.0), (0.7, 0.9), 5),  # tall blocks: a swapped h/w shows
]


def _draw(setting: tuple, seed: int, batch: int = 32) -> Masks:
    grid, m, scale, aspect, ctx_scale, min_keep = setting
    return sample_masks(
        np.random.default_rng(seed), grid, batch, m, scale, aspect, ctx_scale, min_keep
    )


def _rounding_allows(
    side: tuple[int, int], hw: int, scale: tuple[float, float], aspect: tuple[float, float]
) -> bool:
    """Whether some scale and aspect in range round to this (height, width): the unrounded sides
    lie within half a patch of the rounded ones."""
    bh, bw = side
    area_lo, area_hi = (bh - 0.5) * (bw - 0.5), (bh + 0.5) * (bw + 0.5)
    aspect_lo, aspect_hi = (bh - 0.5) / (bw + 0.5), (bh + 0.5) / (bw - 0.5)
    return (
        area_lo <= scale[1] * hw
        and area_hi >= scale[0] * hw
        and aspect_lo <= aspect[1]
        and aspect_hi >= aspect[0]
    )


@pytest.mark.parametrize("setting", MASK_SETTINGS)
def test_masks_follow_the_multi_block_recipe(setting: tuple) -> None:
    (h, w), m, scale, aspect, _, min_keep = setting
    shapes = set()
    for seed in range(20):
        masks = _draw(setting, seed)
        ctx, tgt = masks.context, masks.targets
        assert ctx.dtype == tgt.dtype == torch.int64
        assert ctx.dim() == 2 and tgt.dim() == 3 and tgt.shape[:2] == (32, m)
        assert ctx.shape[1] >= min_keep
        for idx in (ctx, tgt):
            assert int(idx.min()) >= 0 and int(idx.max()) < h * w
        for b in range(32):
            row = ctx[b].tolist()
            assert row == sorted(set(row))  # unique and in raster order
            target_set = set(tgt[b].flatten().tolist())
            assert not target_set & set(row), "context and targets overlap"
            for block in tgt[b]:
                r, c = block // w, block % w
                bh, bw = int(r.max() - r.min() + 1), int(c.max() - c.min() + 1)
                # A full rectangle: as many distinct patches as its bounding box holds.
                assert len(set(block.tolist())) == bh * bw == tgt.shape[2]
                assert (bh, bw) == masks.target_block
            cr, cc = ctx[b] // w, ctx[b] % w
            assert int(cr.max() - cr.min()) < masks.context_block[0]
            assert int(cc.max() - cc.min()) < masks.context_block[1]
        assert _rounding_allows(masks.target_block, h * w, scale, aspect), masks.target_block
        shapes.add(masks.target_block)
        # Positions differ between the images of a batch.
        firsts = {tuple(tgt[b, 0].tolist()) for b in range(32)}
        assert len(firsts) > 5
    assert len(shapes) > 1, "scale and aspect are drawn anew for every batch"


def test_masks_are_reproducible_and_impossible_settings_fail() -> None:
    a, b = _draw(MASK_SETTINGS[0], 7), _draw(MASK_SETTINGS[0], 7)
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
    with pytest.raises(ValueError, match="min_keep"):
        sample_masks(np.random.default_rng(0), (8, 8), 4, min_keep=60)


# ----------------------------------------------------------------------------- model


def _tiny() -> tuple[ViTEncoder, Predictor]:
    torch.manual_seed(0)
    encoder = ViTEncoder(image_size=16, patch=4, dim=16, depth=2, heads=2)
    return encoder, Predictor(encoder.grid, dim=16, pred_dim=8, depth=1, heads=2)


def _patch_pixels(index: torch.Tensor, grid: tuple[int, int], patch: int) -> torch.Tensor:
    """bool [H, W]: the pixels of the patches in ``index``."""
    cells = torch.zeros(grid[0] * grid[1], dtype=torch.bool)
    cells[index.flatten()] = True
    return cells.reshape(grid).repeat_interleave(patch, 0).repeat_interleave(patch, 1)


def test_embedding_only_kept_patches_matches_embedding_all() -> None:
    encoder, _ = _tiny()
    x = torch.randn(3, 3, 16, 16)
    every = torch.arange(16).expand(3, 16)
    torch.testing.assert_close(encoder(x, keep=every), encoder(x), rtol=1e-5, atol=1e-5)
    assert sincos_2d(4, 4, 16).shape == (16, 16)


def test_the_patch_embedding_starts_at_its_own_std_and_content_shows_in_the_tokens() -> None:
    torch.manual_seed(0)
    small = ViTEncoder(32, 4, 96, 1, 3, embed_std=0.02)
    torch.manual_seed(0)
    large = ViTEncoder(32, 4, 96, 1, 3, embed_std=0.08)
    assert abs(float(small.embed.weight.detach().std()) - 0.02) < 0.003
    assert abs(float(large.embed.weight.detach().std()) - 0.08) < 0.01
    # The other layers start alike; only the patch content's share of a token grows.
    torch.testing.assert_close(
        small.blocks[0].attn.in_proj_weight, large.blocks[0].attn.in_proj_weight
    )
    x = torch.rand(64, 3, 32, 32) * 2 - 1

    def content_share(encoder: ViTEncoder) -> float:
        with torch.no_grad():
            tokens = encoder.embed(x).flatten(2).transpose(1, 2) + encoder.pos  # [B, P, D]
        return float(tokens.var(0).mean() / tokens.reshape(-1, 96).var(0).mean())

    assert content_share(large) > 5 * content_share(small)


def test_the_context_encoder_and_predictor_never_see_target_pixels() -> None:
    encoder, predictor = _tiny()
    masks = sample_masks(np.random.default_rng(3), encoder.grid, 4, 2, (0.15, 0.2), min_keep=2)
    x = torch.randn(4, 3, 16, 16)
    changed = x.clone()
    for b in range(4):
        hidden = _patch_pixels(masks.targets[b], encoder.grid, 4)
        changed[b][:, hidden] = torch.randn(3, int(hidden.sum())) * 5
    with torch.no_grad():
        ctx, ctx2 = encoder(x, keep=masks.context), encoder(changed, keep=masks.context)
        pred = predictor(ctx, masks.context, masks.targets)
        pred2 = predictor(ctx2, masks.context, masks.targets)
        assert torch.equal(ctx, ctx2) and torch.equal(pred, pred2)
        # Not vacuous: the target encoder sees the change, and a context pixel changes the context.
        assert not torch.equal(encoder(x), encoder(changed))
        poked = x.clone()
        shown = _patch_pixels(masks.context[0, :1], encoder.grid, 4)
        poked[0][:, shown] += 1.0
        assert not torch.equal(encoder(poked, keep=masks.context)[0], ctx[0])
    assert pred.shape == (*masks.targets.shape, 16)


def test_ema_momentum_is_linear_from_start_to_end() -> None:
    total = 500
    ms = [ema_momentum(s, total) for s in range(total)]
    assert ms[0] == pytest.approx(0.996, abs=1e-12) and ms[-1] == pytest.approx(1.0, abs=1e-12)
    assert all(b >= a for a, b in itertools.pairwise(ms))
    assert ms[total // 2] == pytest.approx(0.996 + 0.004 * (total // 2) / (total - 1))
    assert ema_momentum(10 * total, total) == 1.0


def test_ema_update_moves_the_target_by_exactly_one_minus_m() -> None:
    online, _ = _tiny()
    target, _ = _tiny()
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in target.parameters()]
    frozen = [p.clone() for p in online.parameters()]
    ema_update(target, online, momentum=0.9)
    for old, new, o, o_after in zip(
        before, target.parameters(), frozen, online.parameters(), strict=True
    ):
        torch.testing.assert_close(new - old, 0.1 * (o - old), rtol=1e-5, atol=1e-6)
        assert torch.equal(o, o_after)
    ema_update(target, online, momentum=1.0)
    for old, new in zip(before, target.parameters(), strict=True):
        assert not torch.equal(old, new)  # the first update stuck; m = 1 leaves it there


def test_loss_is_zero_exactly_at_the_layer_normed_targets() -> None:
    tokens = torch.randn(2, 16, 8) * 3 + 1  # [B, P, D]
    idx = torch.tensor([[[0, 1, 4, 5]], [[10, 11, 14, 15]]])  # [B, M=1, Nt=4]
    s_y = target_features(tokens, idx)
    assert s_y.shape == (2, 1, 4, 8)
    torch.testing.assert_close(s_y.mean(-1), torch.zeros(2, 1, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(s_y.var(-1, unbiased=False), torch.ones(2, 1, 4), atol=1e-3, rtol=0)
    for kind in ("l2", "smooth_l1"):
        assert prediction_loss(s_y.clone(), s_y, kind) == 0  # type: ignore[arg-type]
        assert prediction_loss(s_y + 0.1 * torch.randn_like(s_y), s_y, kind) > 0  # type: ignore[arg-type]
    # The raw target tokens (not layer-normed) are not the targets.
    assert prediction_loss(gather_tokens(tokens, idx), s_y) > 0


def test_learning_rate_warms_up_then_decays() -> None:
    cfg = dataclasses.replace(PRESETS["shapes"], steps=1000, warmup_steps=100)
    assert lr_at(0, cfg) == pytest.approx(cfg.lr_start)
    assert lr_at(100, cfg) == pytest.approx(cfg.lr)
    assert lr_at(999, cfg) == pytest.approx(cfg.lr_end)
    assert lr_at(50, cfg) < lr_at(100, cfg) and lr_at(500, cfg) > lr_at(900, cfg)


# ----------------------------------------------------------------------------- probes


def test_linear_probe_reads_a_linear_code_and_not_noise() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (1600,), generator=g)
    code = torch.randn(5, 32, generator=g)
    x = code[y] + 0.3 * torch.randn(1600, 32, generator=g) + 10.0  # offset: standardised away
    acc = linear_probe(x[:1000], y[:1000], x[1000:], y[1000:], epochs=200)
    assert acc >= 0.95
    noise = torch.randn(2000, 32, generator=g)
    labels = torch.randint(0, 4, (2000,), generator=g)
    chance = linear_probe(noise[:1000], labels[:1000], noise[1000:], labels[1000:], epochs=200)
    assert 0.15 < chance < 0.35
    again = linear_probe(x[:1000], y[:1000], x[1000:], y[1000:], epochs=200, batch=128, seed=1)
    assert again == linear_probe(
        x[:1000], y[:1000], x[1000:], y[1000:], epochs=200, batch=128, seed=1
    )


def test_attentive_probe_finds_the_informative_token() -> None:
    g = torch.Generator().manual_seed(0)
    n, p, d = 800, 8, 16
    y = torch.randint(0, 3, (n,), generator=g)
    tokens = torch.randn(n, p, d, generator=g)
    tokens[:, :, 8:] += 2.0 * torch.randn(p, 8, generator=g)  # a code per position, as in a ViT
    tokens[:, 5, :3] += 4.0 * torch.nn.functional.one_hot(y, 3)  # the label sits in token 5 only
    acc = attentive_probe(tokens[:600], y[:600], tokens[600:], y[600:], heads=2, epochs=60)
    pooled = linear_probe(tokens[:600].mean(1), y[:600], tokens[600:].mean(1), y[600:])
    assert acc >= 0.9 and acc > pooled + 0.1  # attending beats averaging the tokens
    noise_y = torch.randint(0, 3, (n,), generator=g)
    chance = attentive_probe(tokens[:600], noise_y[:600], tokens[600:], noise_y[600:], heads=2)
    assert chance < 0.45


def test_feature_std_flags_a_collapsed_encoder() -> None:
    assert feature_std(torch.ones(100, 8) * 3.7) < 1e-6
    assert feature_std(torch.randn(100, 8, generator=torch.Generator().manual_seed(0))) > 0.5


# ----------------------------------------------------------------------------- data


@pytest.mark.parametrize(("background", "colours"), [("plain", 6), ("texture", 6), ("texture", 12)])
def test_shapes_are_deterministic_labelled_and_balanced(background: str, colours: int) -> None:
    kw: dict = {"size": 32, "background": background, "colours": colours}
    data = make_shapes(2000, seed=3, **kw)
    again = make_shapes(2000, seed=3, **kw)
    assert np.array_equal(data.images, again.images)
    other = make_shapes(50, seed=4, **kw)
    assert not np.array_equal(data.images[:50], other.images)
    assert data.images.shape == (2000, 32, 32, 3) and data.images.dtype == np.uint8
    for name, classes in LABELS.items():
        y = data.labels()[name]
        assert np.array_equal(y, again.labels()[name]) and y.dtype == np.int64
        n_classes = colours if name == "colour" else len(classes)
        assert set(np.unique(y).tolist()) == set(range(n_classes))
    # The labels describe the pictures: the bright pixels are the shape.
    bright = data.images.max(axis=-1) > (127 if background == "plain" else 150)  # [N, S, S]
    rows, cols = np.arange(32)[None, :, None], np.arange(32)[None, None, :]
    count = bright.sum(axis=(1, 2))
    cy = (bright * rows).sum(axis=(1, 2)) / count
    cx = (bright * cols).sum(axis=(1, 2)) / count
    quadrant = (cy >= 15.5) * 2 + (cx >= 15.5)
    assert (quadrant == data.position).mean() > 0.98
    for kind in range(len(LABELS["shape"])):  # per shape: a cross covers less than a square
        small, large = (
            count[(data.shape == kind) & (data.size_class == 0)],
            count[(data.shape == kind) & (data.size_class == 1)],
        )
        assert small.max() <= large.min()  # whole pixels: the closest two may tie
    # The shape's mean colour has its class's hue (jittered by at most a quarter of the spacing).
    mean_rgb = (data.images * bright[..., None]).sum(axis=(1, 2)) / count[:, None] / 255.0
    hue = np.array([colorsys.rgb_to_hsv(*c)[0] * 360.0 for c in mean_rgb])
    spacing = 360.0 / colours
    off = (hue - data.colour * spacing + 180.0) % 360.0 - 180.0
    assert np.abs(off).max() < spacing / 4 + 5.0
    # No image is flat: the background carries noise.
    assert data.images[:, :2, :2].reshape(2000, -1).std(axis=1).min() > 0


def test_a_textured_background_varies_in_colour_and_stays_below_the_shapes() -> None:
    data = make_shapes(500, size=32, seed=0, background="texture")
    corner = data.images[:, :4, :4].reshape(500, -1, 3).mean(axis=1)  # [N, 3], mostly background
    assert corner.std(axis=0).min() > 15  # each channel varies between images
    assert data.images[:, :2, :2].max() < 0.4 * 255 + 45  # every shape keeps off these pixels
    with pytest.raises(ValueError, match="background"):
        make_shapes(4, background="stripes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="colours"):
        make_shapes(4, background="texture", colours=1)


def test_digits_upsample_or_name_the_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        pass
    else:
        images, labels = digits(size=16)
        assert images.shape == (1797, 16, 16, 3) and images.dtype == np.uint8
        assert set(labels.tolist()) == set(range(10))
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DreamlabError, match="scikit-learn"):
        digits()


# ----------------------------------------------------------------------------- a short run


def test_debug_run_checkpoints_probes_and_resumes(tmp_path: Path) -> None:
    cfg = PRESETS["debug"]
    run = create_run(tmp_path, "ijepa", "shapes", config_to_dict(cfg))
    first = train(cfg, "shapes", run, resume=True)  # nothing to resume: starts fresh
    assert set(first) == {f"probe/{name}" for name in LABELS} | {"probe/feature_std"}
    assert all(0.0 <= first[f"probe/{name}"] <= 1.0 for name in LABELS)
    assert first["probe/feature_std"] > 0
    ckpts = list_checkpoints(run.checkpoints / "ijepa")
    assert [c.name for c in ckpts] == ["ckpt_000000030.safetensors"]
    rows = read_metrics(run)
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert len(losses) == 3 and all(np.isfinite(losses))

    second = train(cfg, "shapes", run, resume=True)  # already done: no step taken
    assert second == first
    assert list_checkpoints(run.checkpoints / "ijepa") == ckpts
    assert [r["train/loss"] for r in read_metrics(run) if "train/loss" in r] == losses
    assert json.loads((run.path / "summary.json").read_text())["steps"] == 30

    scores = evaluate(run)
    for name in LABELS:
        for kind in ("probe", "attentive", "pixels", "random_init"):
            assert 0.0 <= scores[f"eval/{kind}/{name}"] <= 1.0


def test_the_cli_trains_on_a_data_set_and_rejects_an_unknown_one(tmp_path: Path) -> None:
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dreamlab.cli", *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    bad = cli("train", "ijepa", "--env", "CartPole-v1", "--preset", "debug")
    assert bad.returncode == 2 and "unknown ijepa data set 'CartPole-v1'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
    ok = cli("train", "ijepa", "--env", "shapes", "--preset", "debug", "--runs", "runs")
    assert ok.returncode == 0, ok.stderr
    assert list((tmp_path / "runs").glob("ijepa-shapes-*/checkpoints"))
