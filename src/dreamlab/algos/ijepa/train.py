"""I-JEPA (Assran et al. 2023, "Self-Supervised Learning from Images with a Joint-Embedding
Predictive Architecture"): learn image features by predicting, in feature space, the target
encoder's tokens of a few masked blocks from the tokens of one context block.

The paper, and where each piece lives::

    context block x, target blocks B_1..B_M        masks.sample_masks
    s_x = f_theta(x, context patches only)          model.ViTEncoder(x, keep=masks.context)
    s_y = LN(f_theta_bar(x)) at the target patches   model.target_features (no gradient)
    s^_y(i) = g_phi(s_x, mask tokens + pos(B_i))     model.Predictor
    loss = 1/M sum_i sum_{j in B_i} D(s^_yj, s_yj)  model.prediction_loss: squared L2, as a
                                                     mean over elements, or smooth L1
    theta_bar <- m theta_bar + (1 - m) theta         model.ema_update
    m linear 0.996 -> 1, lr warm-up then cosine      train.jepa_loop (JEPALoop.schedule)
    linear evaluation on the target encoder's        eval.probes.linear_probe
    average-pooled tokens

The run's bookkeeping (resume, logging, checkpoints, summary) is the shared ``JEPALoop``; what
follows is the data, the masks and the loss.

``objective="mae"`` trains the masked-autoencoder baseline instead (``mae.py``): the same encoder,
masks, optimiser and steps, with the predictor decoding per-patch normalised pixels; there is no
target encoder, so the probes read the online encoder.

Deliberate deviations at this scale:

- No image augmentation (the released code takes random resized crops of scale 0.3 to 1): a crop
  would change the position and size labels the probes read, and the images are 32 pixels.
- Weight decay stays at ``weight_decay`` (the paper raises it from 0.04 to 0.4 by a cosine).
- The momentum reaches 1.0 at the last step (the released schedule is stretched by 1.25 so it
  never does); each step draws a fresh batch with replacement instead of walking epochs.
- The ViT is tiny (D 96, 4 blocks, an 8 x 8 grid) where the paper's is a ViT-H/14 on 224 pixels.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from dreamlab.algos.ijepa.config import IJEPAConfig
from dreamlab.algos.ijepa.mae import mae_loss
from dreamlab.algos.ijepa.masks import Masks, sample_masks
from dreamlab.algos.ijepa.model import (
    Predictor,
    ViTEncoder,
    ema_update,
    pixels,
    prediction_loss,
    target_features,
)
from dreamlab.data.shapes import digits, make_shapes
from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.eval.probes import attentive_probe, feature_std, linear_probe
from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint
from dreamlab.train.config import config_from_dict
from dreamlab.train.jepa_loop import JEPALoop, encode_in_batches, jepa_adamw, linear_probes, lr_at
from dreamlab.train.run import RunDir, open_run
from dreamlab.train.seeding import seed_everything
from dreamlab.train.torch_state import restore_state

__all__ = [
    "DATASETS",
    "ImageSplits",
    "build",
    "encode_tokens",
    "evaluate",
    "ijepa_loss",
    "load_data",
    "load_model",
    "lr_at",
    "probe_results",
    "train",
]

DATASETS = ("shapes", "digits")
DIGITS_TEST = 360
"""Held-out digits: a fifth of scikit-learn's 1,797."""


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ImageSplits:
    """Training and test images uint8 [N, S, S, 3] with their labels, name -> int64 [N]."""

    train: np.ndarray
    test: np.ndarray
    train_labels: dict[str, np.ndarray]
    test_labels: dict[str, np.ndarray]


def load_data(env_name: str, cfg: IJEPAConfig) -> ImageSplits:
    """The images of ``"shapes"`` (procedural, four labels) or ``"digits"`` (label ``digit``)."""
    if env_name == "shapes":
        n_images = cfg.train_images + cfg.test_images
        data = make_shapes(n_images, cfg.image_size, cfg.data_seed, cfg.background, cfg.colours)
        n = cfg.train_images
        labels = data.labels()
        return ImageSplits(
            data.images[:n],
            data.images[n:],
            {k: v[:n] for k, v in labels.items()},
            {k: v[n:] for k, v in labels.items()},
        )
    if env_name == "digits":
        images, y = digits(cfg.image_size)
        order = np.random.default_rng(cfg.data_seed).permutation(len(images))
        n_test = min(cfg.test_images, DIGITS_TEST)
        n_train = min(cfg.train_images, len(images) - n_test)
        test, train = order[:n_test], order[n_test : n_test + n_train]
        return ImageSplits(images[train], images[test], {"digit": y[train]}, {"digit": y[test]})
    raise unknown_choice("I-JEPA data set", env_name, DATASETS)


# ----------------------------------------------------------------------------- model and loss


def build(cfg: IJEPAConfig) -> tuple[ViTEncoder, Predictor]:
    """The context encoder f_theta and the predictor g_phi (the target encoder is a copy); for
    the ``mae`` objective the predictor is the pixel decoder, 3 * patch^2 outputs per patch.
    The encoder is built first, so both objectives start from the same encoder weights."""
    encoder = ViTEncoder(
        cfg.image_size, cfg.patch, cfg.width, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.embed_std
    )
    out_dim = 3 * cfg.patch**2 if cfg.objective == "mae" else None
    predictor = Predictor(
        encoder.grid, cfg.width, cfg.pred_width, cfg.pred_depth, cfg.pred_heads, cfg.mlp_ratio,
        out_dim,
    )  # fmt: skip
    return encoder, predictor


def ijepa_loss(
    encoder: ViTEncoder,
    predictor: Predictor,
    target_encoder: ViTEncoder,
    x: Tensor,
    masks: Masks,
    kind: Literal["l2", "smooth_l1"] = "l2",
) -> tuple[Tensor, Tensor]:
    """The loss of images x [B, 3, H, W] under ``masks``; also the target tokens [B, P, D]."""
    with torch.no_grad():
        target_tokens = target_encoder(x)  # [B, P, D], every patch
        s_y = target_features(target_tokens, masks.targets)  # [B, M, Nt, D]
    s_x = encoder(x, keep=masks.context)  # [B, Nc, D]: the context patches only
    pred = predictor(s_x, masks.context, masks.targets)  # [B, M, Nt, D]
    return prediction_loss(pred, s_y, kind), target_tokens


# ----------------------------------------------------------------------------- probes


def encode_tokens(encoder: ViTEncoder, images: np.ndarray, batch: int = 256) -> Tensor:
    """Frozen tokens [N, P, D] of uint8 images [N, S, S, 3], computed in batches."""
    return encode_in_batches(encoder, images, pixels, batch)


def probe_results(encoder: ViTEncoder, data: ImageSplits, cfg: IJEPAConfig) -> dict[str, float]:
    """Linear-probe accuracy of every label on average-pooled tokens, ``probe/<label>``, and
    ``probe/feature_std`` of the test features (~0 means a collapsed encoder)."""
    train_x = encode_tokens(encoder, data.train).mean(dim=1)  # [N, D]
    test_x = encode_tokens(encoder, data.test).mean(dim=1)
    accuracy = linear_probes(
        train_x, data.train_labels, test_x, data.test_labels, cfg.probe_epochs, cfg.probe_lr,
        cfg.seed,
    )  # fmt: skip
    results = {f"probe/{name}": value for name, value in accuracy.items()}
    results["probe/feature_std"] = feature_std(test_x)
    return results


# ----------------------------------------------------------------------------- the run


def train(cfg: IJEPAConfig, env_name: str, run: RunDir, resume: bool = False) -> dict[str, Any]:
    """Pretrain I-JEPA (or, with ``objective="mae"``, the MAE baseline) on ``env_name``
    ("shapes" or "digits") for ``cfg.steps`` updates, then probe the frozen features of the
    target encoder (MAE: the encoder); returns ``{"probe/<label>": accuracy, ...}``."""
    torch.set_num_threads(cfg.threads)
    data = load_data(env_name, cfg)
    rng = seed_everything(cfg.seed)
    encoder, predictor = build(cfg)
    modules: dict[str, nn.Module] = {"encoder": encoder, "predictor": predictor}
    target: ViTEncoder | None = None
    if cfg.objective == "jepa":
        target = copy.deepcopy(encoder).requires_grad_(False)
        modules["target"] = target
    opt = jepa_adamw(cfg, [encoder, predictor])
    loop = JEPALoop(run, "ijepa", modules, opt, rng, cfg, resume)
    rng = loop.rng  # a resumed run continues the checkpoint's draws
    images = torch.from_numpy(data.train)  # uint8 [N, S, S, 3]
    title = "I-JEPA" if target is not None else "MAE"
    with loop.running(f"{title} on {env_name}"):
        encoder.train()
        predictor.train()
        while loop.step < cfg.steps:
            # ---- sample a batch and its masks
            lr, m = loop.schedule()
            x = pixels(images[torch.from_numpy(rng.integers(0, len(images), cfg.batch))])
            masks = sample_masks(
                rng, encoder.grid, cfg.batch, cfg.n_targets, cfg.target_scale,
                cfg.target_aspect, cfg.context_scale, cfg.min_keep,
            )  # fmt: skip
            # ---- update the context encoder and predictor, then the target encoder
            if target is None:
                loss, target_tokens = mae_loss(encoder, predictor, x, masks), None
            else:
                loss, target_tokens = ijepa_loss(encoder, predictor, target, x, masks, cfg.loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if target is not None:
                ema_update(target, encoder, m)
            loop.advance()
            # ---- log and save
            if loop.log_due():
                row = {
                    "train/loss": loss.item(),
                    "train/lr": lr,
                    "train/context_patches": float(masks.context.shape[1]),
                }
                if target_tokens is not None:
                    row["train/ema_momentum"] = m
                    row["train/target_std"] = feature_std(target_tokens.mean(dim=1))
                loop.log(row)
            loop.save_if_due()
        loop.end_training()
        # ---- evaluate: probes on the frozen target encoder (MAE: the encoder)
        return loop.finish(probe_results(target if target is not None else encoder, data, cfg))


# ----------------------------------------------------------------------------- evaluation


def load_model(run: RunDir) -> tuple[ViTEncoder, IJEPAConfig, str]:
    """The run's latest target encoder (the one I-JEPA evaluates; for an ``mae`` run, the
    encoder), its config and its data set."""
    _, saved = open_run(run.path)
    cfg = config_from_dict(IJEPAConfig, saved["config"])
    folder = run.checkpoints / "ijepa"
    if latest_checkpoint(folder) is None:
        raise DreamlabError(f"{run.path} has no I-JEPA checkpoint yet: train it first")
    encoder, _ = build(cfg)
    ckpt = load_checkpoint(folder)
    probed = "target" if cfg.objective == "jepa" else "encoder"
    restore_state(ckpt.tensors, ckpt.meta, {probed: encoder})
    return encoder.eval(), cfg, saved["env"]


def evaluate(run: RunDir, episodes: int = 0) -> dict[str, Any]:
    """``dreamlab eval RUN``: probes of the trained encoder (I-JEPA: the target encoder) next to
    two baselines.

    ``eval/probe/<label>`` linear on pooled tokens, ``eval/attentive/<label>`` attentive on all
    tokens, ``eval/pixels/<label>`` linear on raw pixels, ``eval/random_init/<label>`` linear on an
    untrained encoder of the same shape, and ``eval/feature_std``. ``episodes`` is unused: there
    are no episodes, the test split is fixed by the config.
    """
    encoder, cfg, env_name = load_model(run)
    torch.set_num_threads(cfg.threads)
    data = load_data(env_name, cfg)
    torch.manual_seed(cfg.seed)
    untrained, _ = build(cfg)
    out: dict[str, Any] = {}
    for key, value in probe_results(encoder, data, cfg).items():
        out[f"eval/{key}"] = value
    for key, value in probe_results(untrained, data, cfg).items():
        out[f"eval/random_init/{key.removeprefix('probe/')}"] = value
    train_tokens = encode_tokens(encoder, data.train)  # [N, P, D]
    test_tokens = encode_tokens(encoder, data.test)
    flat_train = torch.from_numpy(data.train).flatten(1).float()
    flat_test = torch.from_numpy(data.test).flatten(1).float()
    for name, y_train in data.train_labels.items():
        y_tr, y_te = torch.from_numpy(y_train), torch.from_numpy(data.test_labels[name])
        out[f"eval/attentive/{name}"] = attentive_probe(
            train_tokens, y_tr, test_tokens, y_te, heads=cfg.heads, seed=cfg.seed
        )
        out[f"eval/pixels/{name}"] = linear_probe(
            flat_train, y_tr, flat_test, y_te, epochs=cfg.probe_epochs, lr=cfg.probe_lr
        )
    out["eval/feature_std"] = out.pop("eval/probe/feature_std")
    return out
