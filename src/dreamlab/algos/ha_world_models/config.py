"""Configuration of Ha & Schmidhuber's World Models: one frozen dataclass and its presets."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRESETS", "HaConfig"]


@dataclass(frozen=True)
class HaConfig:
    """V (ConvVAE), M (MDN-RNN) and C (controller) sizes and the dream's temperature."""

    z_size: int = 32
    """Size of V's latent z (32 CarRacing, 64 Doom)."""
    action_dim: int = 3
    """Size of the action fed to M and produced by C (3 CarRacing, 1 Doom)."""
    rnn_hidden: int = 256
    """M's LSTM hidden units (256 CarRacing, 512 Doom)."""
    mixtures: int = 5
    """Gaussians per latent dimension in M's mixture density head."""
    predict_done: bool = False
    """M also predicts whether the episode ends (the Doom experiments)."""
    lstm_biases: int = 1
    """Biases per LSTM gate: 1 as in the paper's CarRacing model, 2 as in its Doom model's count."""
    controller_hidden: int = 0
    """Hidden tanh units in C (0: the paper's linear controller)."""
    controller_reads_cell: bool = False
    """C reads [z, c, h] (the Doom experiments) instead of [z, h]."""
    kl_tolerance: float = 0.5
    """V's KL term is floored at kl_tolerance * z_size nats per image."""
    temperature: float = 1.0
    """tau: divides M's mixture logits and scales its Gaussian noise by sqrt(tau) when dreaming."""


PRESETS: dict[str, HaConfig] = {
    # The paper's CarRacing architecture: V 4,348,547, M 422,368 and C 867 parameters.
    "carracing": HaConfig(),
    # The paper's DoomTakeCover model (z 64, LSTM 512, a done head; C on [z, c, h]), tau = 1.15:
    # V 4,446,915 and M 1,678,785 parameters as published; C 1,089 (published 1,088, without its bias).
    "doom": HaConfig(
        z_size=64,
        action_dim=1,
        rnn_hidden=512,
        predict_done=True,
        lstm_biases=2,
        controller_reads_cell=True,
        temperature=1.15,
    ),
    # Small and fast, for tests and a first run on a laptop.
    "small": HaConfig(z_size=16, action_dim=1, rnn_hidden=64, predict_done=True),
}
