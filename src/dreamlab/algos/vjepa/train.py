"""V-JEPA (Bardes et al. 2024, "Revisiting Feature Prediction for Learning Visual Representations
from Video"): learn video features by predicting, in feature space, the target encoder's tokens of
masked spatio-temporal regions from the tokens of the rest of the clip.

The paper, and where each piece lives::

    clip x: T frames of procedural sprites video      generate_sprites (a fresh batch every step)
    tubelets 2 x p x p, 3D sin-cos positions          model.VideoViT
    short-range mask: union of 8 blocks, scale 0.15   nn.video_masks.sample_video_masks, each
    long-range mask: union of 2 blocks, scale 0.7     block spanning the whole clip in time
    s_x = E_theta(x, context tokens only)             model.VideoViT(x, keep=masks.context)
    s_y = LN(E_theta_bar(x)) at the masked tokens     model.target_features (no gradient)
    s^_y = P_phi(s_x, mask tokens + pos(masked))      nn.vit.Predictor
    loss = mean over mask sets of |s^_y - s_y|_1      vjepa_loss, model.l1_loss
    theta_bar <- m theta_bar + (1 - m) theta          nn.ema.ema_update, m 0.998 -> 1.0
                                                      (train.jepa_loop: JEPALoop.schedule)
    frozen evaluation: attentive probe                eval.probes.attentive_probe (and linear)

Frozen-feature labels, from the sprites ground truth of each probe clip:

- ``agent_quadrant``: the quadrant of the canvas the controlled agent is in at the last frame (4).
- ``agent_direction``: the signs of the agent's net displacement (x, y) from the first to the
  last frame (4 classes: up-left, up-right, down-left, down-right); this one needs time.

Deliberate deviations at this scale:

- Clips are 8 frames of 64 x 64 (the paper: 16 frames of 224 x 224 with tubelets 2 x 16 x 16);
  patches are 8 pixels, so a sprite of radius 3-6 is about one patch.
- Pretraining draws fresh clips from the simulator every step instead of sampling a fixed video
  data set; no augmentation (the paper's random resized crops would move the position labels).
- The predictor has one learned mask token shared by both mask sets (the released code keeps one
  per mask set); weight decay stays at ``weight_decay`` (the paper raises it 0.04 -> 0.4).
- The ViT is tiny (D 96, 4 blocks, 4 x 8 x 8 tokens) where the paper's is a ViT-L/16 or ViT-H/16.

The run's bookkeeping (resume, learning-rate and momentum schedules, logging, checkpoints,
summary) is the shared ``JEPALoop``, as in I-JEPA; what follows is the data, the masks and the loss.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dreamlab.algos.vjepa.config import VJEPAConfig
from dreamlab.algos.vjepa.model import VideoViT, clip_pixels, l1_loss, target_features
from dreamlab.envs.sprites import CANVAS, SpritesData, generate_sprites
from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.eval.probes import attentive_probe, feature_std
from dreamlab.nn.ema import ema_update
from dreamlab.nn.video_masks import VideoMasks, sample_video_masks
from dreamlab.nn.vit import Predictor
from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint
from dreamlab.train.config import config_from_dict
from dreamlab.train.jepa_loop import JEPALoop, encode_in_batches, jepa_adamw, linear_probes, lr_at
from dreamlab.train.run import RunDir, open_run
from dreamlab.train.seeding import seed_everything
from dreamlab.train.torch_state import restore_state

__all__ = [
    "DATASETS",
    "LABELS",
    "ClipSplits",
    "build",
    "clip_labels",
    "encode_tokens",
    "evaluate",
    "load_model",
    "lr_at",
    "make_clips",
    "probe_data",
    "probe_results",
    "sample_masks",
    "train",
    "vjepa_loss",
]

DATASETS = ("sprites",)
LABELS: dict[str, tuple[str, ...]] = {
    "agent_quadrant": ("top-left", "top-right", "bottom-left", "bottom-right"),
    "agent_direction": ("up-left", "up-right", "down-left", "down-right"),
}
"""Label name -> class names, in the order of the integer labels."""
STREAM_SEEDS = 2**32
"""Pretraining clips take seeds from here on, so they never repeat the probe clips' data seed."""


# ----------------------------------------------------------------------------- data


def make_clips(cfg: VJEPAConfig, n: int, seed: int) -> SpritesData:
    """``n`` sprites clips of ``cfg.frames`` frames (no spawn or recolour events), with ground
    truth; the same seed gives the same clips."""
    return generate_sprites(
        n, cfg.frames, num_objects=cfg.num_objects, events=False, seed=seed,
        policy=cfg.policy, progress=False,
    )  # fmt: skip


def clip_labels(data: SpritesData) -> dict[str, np.ndarray]:
    """The probe labels of clips, name -> int64 [n] (see ``LABELS``), from the agent's
    ground-truth positions (slot 0)."""
    pos = data.positions[:, :, 0].astype(np.float64)  # [n, T, 2], (x, y) in pixels
    half = CANVAS / 2
    quadrant = (pos[:, -1, 1] >= half) * 2 + (pos[:, -1, 0] >= half)
    move = pos[:, -1] - pos[:, 0]  # [n, 2]
    direction = (move[:, 1] >= 0) * 2 + (move[:, 0] >= 0)  # y grows downwards
    return {
        "agent_quadrant": quadrant.astype(np.int64),
        "agent_direction": direction.astype(np.int64),
    }


@dataclass(frozen=True)
class ClipSplits:
    """Probe clips uint8 [N, T, 64, 64, 3] with their labels, name -> int64 [N]."""

    train: np.ndarray
    test: np.ndarray
    train_labels: dict[str, np.ndarray]
    test_labels: dict[str, np.ndarray]


def probe_data(env_name: str, cfg: VJEPAConfig) -> ClipSplits:
    """The fixed clips the probes are fitted and scored on (``data_seed``)."""
    if env_name not in DATASETS:
        raise unknown_choice("V-JEPA data set", env_name, DATASETS)
    n = cfg.probe_train_clips
    data = make_clips(cfg, n + cfg.probe_test_clips, cfg.data_seed)
    labels = clip_labels(data)
    return ClipSplits(
        data.frames[:n],
        data.frames[n:],
        {k: v[:n] for k, v in labels.items()},
        {k: v[n:] for k, v in labels.items()},
    )


# ----------------------------------------------------------------------------- model and loss


def build(cfg: VJEPAConfig) -> tuple[VideoViT, Predictor]:
    """The context encoder E_theta and the predictor P_phi (the target encoder is a copy)."""
    encoder = VideoViT(
        cfg.frames, CANVAS, cfg.patch, cfg.tubelet, cfg.width, cfg.depth, cfg.heads, cfg.mlp_ratio
    )
    predictor = Predictor(
        encoder.grid, cfg.width, cfg.pred_width, cfg.pred_depth, cfg.pred_heads, cfg.mlp_ratio
    )
    return encoder, predictor


def sample_masks(
    rng: np.random.Generator, grid: tuple[int, int, int], cfg: VJEPAConfig
) -> list[VideoMasks]:
    """The batch's two mask sets: short-range, then long-range."""
    return [
        sample_video_masks(
            rng, grid, cfg.batch, cfg.short_blocks, cfg.short_scale, cfg.aspect, cfg.min_keep
        ),
        sample_video_masks(
            rng, grid, cfg.batch, cfg.long_blocks, cfg.long_scale, cfg.aspect, cfg.min_keep
        ),
    ]


def vjepa_loss(
    encoder: VideoViT,
    predictor: Predictor,
    target_encoder: VideoViT,
    x: Tensor,
    mask_sets: list[VideoMasks],
) -> tuple[Tensor, Tensor]:
    """The loss of clips x [B, 3, T, H, W], averaged over the mask sets; also the target
    tokens [B, P, D]. Each mask set runs the context encoder on its own context."""
    with torch.no_grad():
        target_tokens = target_encoder(x)  # [B, P, D], every token
    losses = []
    for masks in mask_sets:
        s_y = target_features(target_tokens, masks.target)  # [B, Nt, D]
        s_x = encoder(x, keep=masks.context)  # [B, Nc, D]: the context tokens only
        pred = predictor(s_x, masks.context, masks.target[:, None])[:, 0]  # [B, Nt, D]
        losses.append(l1_loss(pred, s_y))
    return torch.stack(losses).mean(), target_tokens


# ----------------------------------------------------------------------------- probes


def encode_tokens(encoder: VideoViT, clips: np.ndarray, batch: int = 64) -> Tensor:
    """Frozen tokens [N, P, D] of uint8 clips [N, T, 64, 64, 3], computed in batches."""
    return encode_in_batches(encoder, clips, clip_pixels, batch)


def probe_results(
    encoder: VideoViT, data: ClipSplits, cfg: VJEPAConfig, attentive: bool = True
) -> dict[str, float]:
    """Per label, ``probe/<label>``: a linear probe on average-pooled tokens, and (if
    ``attentive``) ``attentive/<label>``: an attentive probe over all tokens; plus
    ``probe/feature_std`` of the pooled test features (~0 means a collapsed encoder)."""
    train_tokens = encode_tokens(encoder, data.train)  # [N, P, D]
    test_tokens = encode_tokens(encoder, data.test)
    linear = linear_probes(
        train_tokens.mean(dim=1), data.train_labels, test_tokens.mean(dim=1), data.test_labels,
        cfg.probe_epochs, cfg.probe_lr, cfg.seed,
    )  # fmt: skip
    results: dict[str, float] = {}
    for name, y_train in data.train_labels.items():
        y_tr, y_te = torch.from_numpy(y_train), torch.from_numpy(data.test_labels[name])
        results[f"probe/{name}"] = linear[name]
        if attentive:
            results[f"attentive/{name}"] = attentive_probe(
                train_tokens, y_tr, test_tokens, y_te,
                heads=cfg.heads, epochs=cfg.attentive_epochs, seed=cfg.seed,
            )  # fmt: skip
    results["probe/feature_std"] = feature_std(test_tokens.mean(dim=1))
    return results


# ----------------------------------------------------------------------------- the run


def train(cfg: VJEPAConfig, env_name: str, run: RunDir, resume: bool = False) -> dict[str, Any]:
    """Pretrain V-JEPA on procedural sprites clips for ``cfg.steps`` updates, then probe the
    target encoder's frozen features; returns ``{"probe/<label>": accuracy,
    "attentive/<label>": accuracy, "probe/feature_std": ...}``."""
    torch.set_num_threads(cfg.threads)
    data = probe_data(env_name, cfg)
    rng = seed_everything(cfg.seed)
    encoder, predictor = build(cfg)
    target = copy.deepcopy(encoder).requires_grad_(False)
    modules: dict[str, nn.Module] = {"encoder": encoder, "predictor": predictor, "target": target}
    opt = jepa_adamw(cfg, [encoder, predictor])
    loop = JEPALoop(run, "vjepa", modules, opt, rng, cfg, resume)
    rng = loop.rng  # a resumed run continues the checkpoint's draws
    with loop.running(f"V-JEPA on {env_name}"):
        encoder.train()
        predictor.train()
        while loop.step < cfg.steps:
            # ---- draw fresh clips and their two mask sets
            lr, m = loop.schedule()
            seed = int(rng.integers(STREAM_SEEDS, 2 * STREAM_SEEDS))
            x = clip_pixels(torch.from_numpy(make_clips(cfg, cfg.batch, seed).frames))
            mask_sets = sample_masks(rng, encoder.grid, cfg)
            # ---- update the context encoder and predictor, then the target encoder
            loss, target_tokens = vjepa_loss(encoder, predictor, target, x, mask_sets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            ema_update(target, encoder, m)
            loop.advance()
            # ---- log and save
            if loop.log_due():
                loop.log(
                    {
                        "train/loss": loss.item(),
                        "train/lr": lr,
                        "train/ema_momentum": m,
                        "train/context_tokens_short": float(mask_sets[0].context.shape[1]),
                        "train/context_tokens_long": float(mask_sets[1].context.shape[1]),
                        "train/target_std": feature_std(target_tokens.mean(dim=1)),
                    }
                )
            loop.save_if_due()
        loop.end_training()
        # ---- evaluate: probes on the frozen target encoder
        return loop.finish(probe_results(target, data, cfg))


# ----------------------------------------------------------------------------- evaluation


def load_model(run: RunDir) -> tuple[VideoViT, VJEPAConfig, str]:
    """The run's latest target encoder (the one V-JEPA evaluates), its config and its data set."""
    _, saved = open_run(run.path)
    cfg = config_from_dict(VJEPAConfig, saved["config"])
    folder = run.checkpoints / "vjepa"
    if latest_checkpoint(folder) is None:
        raise DreamlabError(f"{run.path} has no V-JEPA checkpoint yet: train it first")
    encoder, _ = build(cfg)
    ckpt = load_checkpoint(folder)
    restore_state(ckpt.tensors, ckpt.meta, {"target": encoder})
    return encoder.eval(), cfg, saved["env"]


def evaluate(run: RunDir, episodes: int = 0) -> dict[str, Any]:
    """``dreamlab eval RUN``: probes of the trained target encoder against the same network with
    random weights (the run's initial weights).

    ``eval/probe/<label>`` linear on pooled tokens, ``eval/attentive/<label>`` attentive on all
    tokens, the same two under ``eval/random_init/`` and ``eval/random_init_attentive/``, and
    ``eval/feature_std``. ``episodes`` is unused: the probe clips are fixed by the config.
    """
    encoder, cfg, env_name = load_model(run)
    torch.set_num_threads(cfg.threads)
    data = probe_data(env_name, cfg)
    seed_everything(cfg.seed)  # as train() does before building: the run's initial weights
    untrained, _ = build(cfg)
    out: dict[str, Any] = {f"eval/{k}": v for k, v in probe_results(encoder, data, cfg).items()}
    for key, value in probe_results(untrained, data, cfg).items():
        kind, name = key.split("/")
        if name != "feature_std":
            prefix = "random_init" if kind == "probe" else "random_init_attentive"
            out[f"eval/{prefix}/{name}"] = value
    out["eval/feature_std"] = out.pop("eval/probe/feature_std")
    return out
