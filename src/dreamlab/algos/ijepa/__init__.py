"""I-JEPA (Assran et al. 2023): a ViT learns image features by predicting the features of masked
blocks from a context block, in feature space, against an EMA target encoder; scored by probes of
its frozen features."""

from __future__ import annotations

from dreamlab.algos.ijepa.config import PRESETS, IJEPAConfig
from dreamlab.algos.ijepa.masks import Masks, sample_masks
from dreamlab.algos.ijepa.model import Predictor, ViTEncoder, ema_momentum, ema_update
from dreamlab.algos.ijepa.train import evaluate as _evaluate
from dreamlab.algos.ijepa.train import train as _train
from dreamlab.train.system import SystemSpec

__all__ = [
    "PRESETS",
    "SYSTEM",
    "IJEPAConfig",
    "Masks",
    "Predictor",
    "ViTEncoder",
    "ema_momentum",
    "ema_update",
    "sample_masks",
]

SYSTEM = SystemSpec(
    name="ijepa",
    paradigm="implicit (representation learner: an Encoder, no action-conditioned step)",
    description="I-JEPA: ViT context encoder, EMA target encoder, predictor of masked blocks; probes",
    config=IJEPAConfig,
    presets=PRESETS,
    default_env="shapes",
    envs=("shapes", "digits"),
    datasets=("shapes", "digits"),
    train=_train,
    evaluate=_evaluate,
)
