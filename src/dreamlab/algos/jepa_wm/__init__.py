"""An action-conditioned JEPA world model (the EB-JEPA recipe on Two-Rooms): an Impala-style
encoder, a predictor of the next embedding, VICReg-style regularisers and inverse dynamics,
planned to a goal image by MPPI on embedding distances."""

from __future__ import annotations

from dreamlab.algos.jepa_wm.config import PRESETS, JEPAWMConfig
from dreamlab.algos.jepa_wm.model import (
    GRUPredictor,
    ImpalaEncoder,
    InverseDynamics,
    JEPAWorldModel,
    MLPPredictor,
    covariance_loss,
    idm_loss,
    prediction_loss,
    time_similarity_loss,
    variance_loss,
)
from dreamlab.algos.jepa_wm.train import evaluate as _evaluate
from dreamlab.algos.jepa_wm.train import train as _train
from dreamlab.train.system import SystemSpec

__all__ = [
    "PRESETS",
    "SYSTEM",
    "GRUPredictor",
    "ImpalaEncoder",
    "InverseDynamics",
    "JEPAWMConfig",
    "JEPAWorldModel",
    "MLPPredictor",
    "covariance_loss",
    "idm_loss",
    "prediction_loss",
    "time_similarity_loss",
    "variance_loss",
]

SYSTEM = SystemSpec(
    name="jepa_wm",
    paradigm="implicit (action-conditioned JEPA: predicts embeddings, plans to a goal embedding)",
    description="EB-JEPA world model: Impala CNN + GRU predictor, VC + IDM regularisers, MPPI",
    config=JEPAWMConfig,
    presets=PRESETS,
    default_env="two-rooms",
    envs=("two-rooms", "two-rooms-fixed"),
    # It learns from random walks it generates, not by acting: the CLI then rejects any other
    # --env before it creates a run folder.
    datasets=("two-rooms", "two-rooms-fixed"),
    train=_train,
    evaluate=_evaluate,
)
