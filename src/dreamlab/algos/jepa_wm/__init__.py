"""Action-conditioned world models planned to a goal image on Two-Rooms: the EB-JEPA recipe (an
Impala-style encoder, a predictor of the next embedding, VICReg-style regularisers and inverse
dynamics), its pixel-space baseline of the same size, and the V-JEPA 2-AC recipe (a frozen ViT
pretrained with V-JEPA's objective and a block-causal action-conditioned transformer); all
planned by MPPI."""

from __future__ import annotations

from dreamlab.algos.jepa_wm.config import PRESETS, JEPAWMConfig
from dreamlab.algos.jepa_wm.demo import demo as _demo
from dreamlab.algos.jepa_wm.model import (
    FrameDecoder,
    GRUPredictor,
    ImpalaEncoder,
    InverseDynamics,
    JEPAWorldModel,
    MLPPredictor,
    PixelWorldModel,
    covariance_loss,
    idm_loss,
    prediction_loss,
    time_similarity_loss,
    variance_loss,
)
from dreamlab.algos.jepa_wm.pictures import dream as _dream
from dreamlab.algos.jepa_wm.train import evaluate as _evaluate
from dreamlab.algos.jepa_wm.train import train as _train
from dreamlab.algos.jepa_wm.vjepa2ac import ACPredictor, ACWorldModel, FrameViT
from dreamlab.train.system import SystemSpec

__all__ = [
    "PRESETS",
    "SYSTEM",
    "ACPredictor",
    "ACWorldModel",
    "FrameDecoder",
    "FrameViT",
    "GRUPredictor",
    "ImpalaEncoder",
    "InverseDynamics",
    "JEPAWMConfig",
    "JEPAWorldModel",
    "MLPPredictor",
    "PixelWorldModel",
    "covariance_loss",
    "idm_loss",
    "prediction_loss",
    "time_similarity_loss",
    "variance_loss",
]

SYSTEM = SystemSpec(
    name="jepa_wm",
    paradigm="implicit (action-conditioned JEPA: predicts embeddings, plans to a goal embedding)",
    description=(
        "action-conditioned JEPA on Two-Rooms: EB-JEPA (Impala CNN + GRU, VC + IDM), its pixel "
        "baseline, or V-JEPA 2-AC (frozen ViT + block-causal predictor); MPPI to a goal image"
    ),
    config=JEPAWMConfig,
    presets=PRESETS,
    default_env="two-rooms",
    envs=("two-rooms", "two-rooms-fixed"),
    # It learns from random walks it generates, not by acting: the CLI then rejects any other
    # --env before it creates a run folder.
    datasets=("two-rooms", "two-rooms-fixed"),
    train=_train,
    evaluate=_evaluate,
    dream=_dream,
    demo=_demo,
)
