"""V-JEPA (Bardes et al. 2024): a video ViT learns clip features by predicting the features of
masked spatio-temporal regions from the rest of the clip, in feature space, against an EMA target
encoder; trained on procedural sprites video and scored by probes of its frozen features."""

from __future__ import annotations

from dreamlab.algos.vjepa.config import PRESETS, VJEPAConfig
from dreamlab.algos.vjepa.model import VideoViT
from dreamlab.algos.vjepa.train import evaluate as _evaluate
from dreamlab.algos.vjepa.train import train as _train
from dreamlab.nn.video_masks import VideoMasks, sample_video_masks
from dreamlab.train.system import SystemSpec

__all__ = [
    "PRESETS",
    "SYSTEM",
    "VJEPAConfig",
    "VideoMasks",
    "VideoViT",
    "sample_video_masks",
]

SYSTEM = SystemSpec(
    name="vjepa",
    paradigm="implicit (representation learner: an Encoder, no action-conditioned step)",
    description="V-JEPA: video ViT over tubelets, EMA target, predictor of 3D masked blocks; probes",
    config=VJEPAConfig,
    presets=PRESETS,
    default_env="sprites",
    envs=("sprites",),
    datasets=("sprites",),
    train=_train,
    evaluate=_evaluate,
)
