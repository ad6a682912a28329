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
    done_weight: float = 10.0
    """Weight of the rare done = 1 targets in M's loss (the paper's Doom "restart factor" of 10)."""
    lstm_biases: int = 1
    """Biases per LSTM gate: 1 as in the paper's CarRacing model, 2 as in its Doom model's count."""
    controller_hidden: int = 0
    """Hidden tanh units in C (0: the paper's linear controller)."""
    controller_reads_h: bool = True
    """C reads M's hidden state; False gives the paper's V-only controller on z alone."""
    controller_reads_cell: bool = False
    """C also reads M's cell state c, [z, c, h] (the Doom experiments)."""
    kl_tolerance: float = 0.5
    """V's KL term is floored at kl_tolerance * z_size nats per image."""
    temperature: float = 1.0
    """tau: divides M's mixture logits and scales its Gaussian noise by sqrt(tau) when dreaming."""

    # The pipeline: collect -> train V -> encode -> train M -> evolve C -> evaluate.
    seed: int = 0
    """Seed of every stage (data, V, M, CMA-ES and the evaluation tracks/episodes)."""
    threads: int = 2
    """torch threads of this process (population workers use one each)."""
    collect_episodes: int = 200
    """Random-policy rollouts collected for V and M (the paper: 10,000)."""
    max_frames: int = 2100
    """Episode cap in the real game and in the dream (Doom: 2100 frames, one minute)."""
    random_repeat: int = 10
    """The random policy holds each uniform action for 1..random_repeat frames (the paper's Doom data)."""
    vae_steps: int = 2000
    """V's Adam steps (batch vae_batch)."""
    vae_batch: int = 100
    vae_lr: float = 1e-3
    """Adam's learning rate for V: the paper's 1e-4 is for ~100x more steps than fit here; at 1e-4
    and a few thousand steps V draws only the average frame (no fireballs)."""
    rnn_steps: int = 600
    """M's Adam steps; each is rnn_batch whole episodes from their first frame, cut at rnn_seq_len."""
    rnn_batch: int = 20
    rnn_seq_len: int = 500
    rnn_lr: float = 1e-3
    grad_clip: float = 1.0
    train_in: str = "dream"
    """Where CMA-ES scores candidates: "dream" (inside M at temperature tau) or "real"."""
    generations: int = 40
    population: int = 32
    """CMA-ES population (the paper: 64)."""
    trials: int = 8
    """Rollouts per candidate, mean return is its fitness (the paper: 16)."""
    sigma_init: float = 0.1
    block: int = 8
    """Candidates per evaluation task; tasks run in-process or on Ray workers, with equal results."""
    workers: int = 0
    """Ray workers for population evaluation (0: in-process)."""
    ray_address: str = ""
    """Address of an existing Ray cluster ("" starts a local one when workers > 0)."""
    rounds: int = 1
    """Ha & Schmidhuber's iterative training: each round after the first collects rollouts of the last
    C (with noise), refits M on all data and evolves C again, so M learns where C goes."""
    round_episodes: int = 200
    """Episodes collected with C in each later round."""
    round_noise: float = 0.5
    """Std of the Gaussian noise on C's action while collecting in later rounds."""
    round_rnn_steps: int = 400
    """M's further Adam steps in each later round (on all data so far)."""
    round_generations: int = 0
    """CMA-ES generations in each later round (0: ``generations``)."""
    eval_episodes: int = 100
    """Real episodes (fixed seeds) of the final evaluation."""
    eval_parallel: int = 20
    """Real games stepped side by side during evaluation (their frames go through V as one batch)."""


PRESETS: dict[str, HaConfig] = {
    # The paper's CarRacing architecture: V 4,348,547, M 422,368 and C 867 parameters; C evolves
    # in the real game (the paper: 10,000 rollouts, population 64 x 16 trials, ~2,000 generations).
    "carracing": HaConfig(
        max_frames=1000,
        collect_episodes=100,
        vae_steps=2000,
        rnn_steps=400,
        rnn_batch=10,
        rnn_seq_len=1000,
        train_in="real",
        generations=30,
        population=16,
        trials=1,
        block=4,
        workers=2,
        eval_parallel=8,
    ),
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
        collect_episodes=600,
        vae_steps=3500,
        rnn_steps=1000,
        rnn_batch=20,
        generations=40,
        population=32,
        trials=8,
        workers=2,
        rounds=4,
        round_episodes=300,
        round_generations=25,
    ),
    # Small and fast, for tests and a first run on a laptop.
    "small": HaConfig(
        z_size=16,
        action_dim=1,
        rnn_hidden=64,
        predict_done=True,
        collect_episodes=20,
        vae_steps=50,
        vae_batch=32,
        rnn_steps=30,
        rnn_batch=8,
        rnn_seq_len=200,
        generations=3,
        population=8,
        trials=2,
        block=4,
        eval_episodes=4,
        eval_parallel=4,
        max_frames=300,
        rounds=2,
        round_episodes=6,
        round_rnn_steps=10,
    ),
}
