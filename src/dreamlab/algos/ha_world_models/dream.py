"""Controllers for a whole population at once, and CMA-ES's dream: every candidate played inside M.

A population of P flat parameter vectors acts on features [P, N, D] in one batched product
(``controller_act``), so P candidates x N trials dream together on one LSTM batch
(``dream_returns``). All candidates see the same N dream scenarios: the starting z and every draw of
noise belong to (trial, step), not to a candidate (common random numbers). That makes comparisons
between candidates fairer and makes a candidate's score independent of which other candidates share
its batch, so the population can be split into blocks anywhere without changing a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dreamlab.algos.ha_world_models.config import HaConfig
from dreamlab.algos.ha_world_models.model import (
    MDNRNN,
    controller_features,
    controller_inputs,
    done_probability,
    sample_mdn_from,
)

__all__ = ["DreamScenarios", "controller_act", "dream_returns", "num_params"]


def num_params(cfg: HaConfig) -> int:
    """Length of C's flat parameter vector (the CMA-ES search space)."""
    d, a, hidden = controller_inputs(cfg), cfg.action_dim, cfg.controller_hidden
    if hidden:
        return hidden * d + hidden + a * hidden + a
    return a * d + a


def controller_act(params: Tensor, features: Tensor, cfg: HaConfig) -> Tensor:
    """Actions [P, N, A] in [-1, 1] of P controllers, each on its own N feature rows.

    ``params`` [P, n] in ``Controller.get_flat`` order (weight [out, in] row-major, then bias, layer
    by layer); ``features`` [P, N, D] = [z, h] or [z, c, h] per row.
    """
    p, d, a, hidden = params.shape[0], features.shape[-1], cfg.action_dim, cfg.controller_hidden

    def layer(x: Tensor, start: int, n_in: int, n_out: int) -> tuple[Tensor, int]:
        w = params[:, start : start + n_out * n_in].reshape(p, n_out, n_in)  # [P, out, in]
        b = params[:, start + n_out * n_in : start + n_out * n_in + n_out]  # [P, out]
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2)), start + n_out * n_in + n_out

    if hidden:
        x, at = layer(features, 0, d, hidden)
        x, _ = layer(torch.tanh(x), at, hidden, a)
    else:
        x, _ = layer(features, 0, d, a)
    return torch.tanh(x)


@dataclass(frozen=True)
class DreamScenarios:
    """The N dream scenarios of one generation: starting latents and a seed for all later noise."""

    z0: Tensor
    """[N, Z] starting latents, drawn from real first frames' mu + sigma * eps."""
    seed: int
    """Seeds the per-step noise, shared by every candidate."""


def dream_returns(
    rnn: MDNRNN,
    params: Tensor,
    scenarios: DreamScenarios,
    cfg: HaConfig,
    tau: float,
    max_frames: int,
) -> np.ndarray:
    """Play P controllers for N scenarios inside M at temperature tau; returns [P, N] frames survived.

    Each step: C acts on [z, (c,) h], the LSTM reads [z, a], z' is sampled at tau, and the episode
    ends with M's probability of death (``done_probability``, calibrated for the weight the done
    targets had in training) or at ``max_frames``. Finished rows leave the batch, so a step costs
    what is still alive.

    (Ending a dream only when the weighted head says P(done) > 1/2 was tried first: deaths then come
    only when M is sure a fireball hits, and C learned to run into a wall, where M never is sure,
    scoring ~1950 in the dream and ~175 in the real game.)
    """
    p, n = params.shape[0], scenarios.z0.shape[0]
    zs, hs = cfg.z_size, cfg.rnn_hidden
    gen = torch.Generator().manual_seed(scenarios.seed)
    z = scenarios.z0.unsqueeze(0).expand(p, n, zs).reshape(p * n, zs)  # row = candidate * N + trial
    h = torch.zeros(p * n, hs)
    c = torch.zeros(p * n, hs)
    alive = torch.arange(p * n)  # rows still playing
    trial = alive % n
    owner = alive // n
    returns = torch.zeros(p * n)
    with torch.no_grad():
        for _ in range(max_frames):
            # Noise for every (trial, step), drawn whether or not the rows are alive.
            uniform = torch.rand(n, zs, generator=gen)
            eps = torch.randn(n, zs, generator=gen)
            u_done = torch.rand(n, generator=gen)
            features = controller_features(z, h, c, cfg)  # [R, D] for the R rows alive
            # Each alive row acts with its own candidate's parameters: [R, 1, D] x [R, n] -> [R, 1, A].
            action = controller_act(params[owner], features.unsqueeze(1), cfg)[:, 0]
            out, (h1, c1) = rnn(
                z.unsqueeze(1), action.unsqueeze(1), (h.unsqueeze(0), c.unsqueeze(0))
            )
            z = sample_mdn_from(out, tau, uniform[trial].unsqueeze(1), eps[trial].unsqueeze(1))[
                :, 0
            ]
            h, c = h1[0], c1[0]
            returns[alive] += 1.0
            if out.done_logit is None:
                continue
            keep = u_done[trial] >= done_probability(out.done_logit[:, 0], cfg.done_weight)
            if not bool(keep.all()):
                alive, trial, owner = alive[keep], trial[keep], owner[keep]
                z, h, c = z[keep], h[keep], c[keep]
                if alive.numel() == 0:
                    break
    return returns.reshape(p, n).numpy()
