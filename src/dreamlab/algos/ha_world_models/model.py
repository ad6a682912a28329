"""V, M and C of World Models (Ha & Schmidhuber 2018, "Recurrent World Models Facilitate Policy Evolution").

    V  ConvVAE: a 64x64x3 frame in [0, 1] -> z (mu, logvar); decoder z -> frame        -> ConvVAE
       loss: summed squared error + KL, the KL floored at kl_tolerance * z_size         -> vae_loss
    M  MDN-RNN: P(z_{t+1} | a_t, z_t, h_t) as a mixture of Gaussians per z dimension     -> MDNRNN
       loss: negative log-likelihood of the next z (+ done, Doom)                        -> mdn_nll
       dreaming at temperature tau: logits / tau, noise * sqrt(tau)                     -> sample_mdn
    C  a_t = tanh(W [z_t, h_t] + b), parameters searched by CMA-ES                        -> Controller

V and M together are a WorldModel (``HaWorldModel``): the state is (z, h, c), a step runs the LSTM
on [z, a] and samples the next z from the mixture, ``decode`` draws the frame through V.

Deliberate choice: the published parameter counts imply one bias per LSTM gate for CarRacing and
two for Doom, so ``lstm_biases`` chooses. One bias is built as ``nn.LSTM`` without biases fed a
constant 1 beside [z, a], whose input weights then act as that single bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.algos.ha_world_models.config import HaConfig
from dreamlab.protocols import WorldModel
from dreamlab.types import State, StepOut

__all__ = [
    "MDNRNN",
    "Controller",
    "ConvVAE",
    "HaWorldModel",
    "MDNOutput",
    "controller_features",
    "controller_inputs",
    "done_probability",
    "mdn_log_prob",
    "mdn_nll",
    "sample_mdn",
    "sample_mdn_from",
    "vae_loss",
]


class ConvVAE(nn.Module):
    """V: four stride-2 convolutions to 2x2x256, dense mu and logvar; deconvolutions back to 64x64x3."""

    def __init__(self, z_size: int) -> None:
        super().__init__()
        self.z_size = z_size
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 4, stride=2), nn.ReLU(),  # 64 -> 31
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),  # 31 -> 14
            nn.Conv2d(64, 128, 4, stride=2), nn.ReLU(),  # 14 -> 6
            nn.Conv2d(128, 256, 4, stride=2), nn.ReLU(),  # 6 -> 2
            nn.Flatten(),  # [B, 1024]
        )  # fmt: skip
        self.mu = nn.Linear(1024, z_size)
        self.logvar = nn.Linear(1024, z_size)
        self.expand = nn.Linear(z_size, 1024)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(1024, 128, 5, stride=2), nn.ReLU(),  # 1 -> 5
            nn.ConvTranspose2d(128, 64, 5, stride=2), nn.ReLU(),  # 5 -> 13
            nn.ConvTranspose2d(64, 32, 6, stride=2), nn.ReLU(),  # 13 -> 30
            nn.ConvTranspose2d(32, 3, 6, stride=2), nn.Sigmoid(),  # 30 -> 64
        )  # fmt: skip

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Frames [B, 3, 64, 64] in [0, 1] -> mu, logvar [B, z]."""
        features = self.encoder(x)
        return self.mu(features), self.logvar(features)

    def decode(self, z: Tensor) -> Tensor:
        """Latents [B, z] -> frames [B, 3, 64, 64] in [0, 1]."""
        return self.decoder(self.expand(z).reshape(-1, 1024, 1, 1))  # [B, 1024, 1, 1] -> frames

    def forward(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction [B, 3, 64, 64], mu and logvar [B, z] with a reparameterised sample."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return self.decode(mu + torch.exp(0.5 * logvar) * eps), mu, logvar


def vae_loss(
    x: Tensor, recon: Tensor, mu: Tensor, logvar: Tensor, kl_tolerance: float
) -> tuple[Tensor, Tensor]:
    """V's loss, per image then averaged: (sum of squared errors, KL floored at kl_tolerance * z_size)."""
    rec = (x - recon).pow(2).flatten(1).sum(dim=1).mean()
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)  # [B]
    kl = torch.clamp(kl, min=kl_tolerance * mu.shape[1]).mean()
    return rec, kl


@dataclass(frozen=True)
class MDNOutput:
    """M's prediction for every step: per latent dimension a mixture of K Gaussians.

    ``log_pi``, ``mu`` and ``log_sigma`` are [B, T, Z, K] (``log_pi`` normalised over K);
    ``done_logit`` is [B, T] or None.
    """

    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor
    done_logit: Tensor | None


class MDNRNN(nn.Module):
    """M: an LSTM over [z_t, a_t] and a mixture density head for z_{t+1} (and done)."""

    def __init__(self, cfg: HaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # One bias per gate = no bias plus a constant input of 1 (module docstring).
        self.constant_input = cfg.lstm_biases == 1
        inputs = cfg.z_size + cfg.action_dim + int(self.constant_input)
        self.lstm = nn.LSTM(inputs, cfg.rnn_hidden, bias=not self.constant_input, batch_first=True)
        outputs = 3 * cfg.mixtures * cfg.z_size + (1 if cfg.predict_done else 0)
        self.head = nn.Linear(cfg.rnn_hidden, outputs)

    def forward(
        self, z: Tensor, action: Tensor, hidden: tuple[Tensor, Tensor] | None = None
    ) -> tuple[MDNOutput, tuple[Tensor, Tensor]]:
        """z [B, T, Z] and a [B, T, A] -> the mixture for z_{t+1} at every t, and the LSTM (h, c)."""
        parts = [z, action]
        if self.constant_input:
            parts.append(torch.ones(*z.shape[:2], 1, dtype=z.dtype, device=z.device))
        out, hidden = self.lstm(torch.cat(parts, dim=-1), hidden)  # [B, T, hidden]
        return self.split(self.head(out)), hidden

    def split(self, y: Tensor) -> MDNOutput:
        """Head outputs [B, T, 3 K Z (+1)] -> MDNOutput."""
        b, t = y.shape[:2]
        k, zs = self.cfg.mixtures, self.cfg.z_size
        mix = y[..., : 3 * k * zs].reshape(b, t, zs, 3, k)  # [B, T, Z, 3, K]
        done = y[..., -1] if self.cfg.predict_done else None
        return MDNOutput(
            log_pi=F.log_softmax(mix[..., 0, :], dim=-1),
            mu=mix[..., 1, :],
            log_sigma=mix[..., 2, :],
            done_logit=done,
        )


def mdn_log_prob(out: MDNOutput, target: Tensor) -> Tensor:
    """log p(z) [B, T, Z] of target z [B, T, Z] under the mixtures, per dimension:

    log p(z) = logsumexp_k [ log pi_k - log sigma_k - (z - mu_k)^2 / (2 sigma_k^2) - log sqrt(2 pi) ]
    """
    z = target.unsqueeze(-1)  # [B, T, Z, 1]
    log_normal = (
        -out.log_sigma
        - 0.5 * ((z - out.mu) / out.log_sigma.exp()).pow(2)
        - 0.5 * math.log(2 * math.pi)
    )
    return torch.logsumexp(out.log_pi + log_normal, dim=-1)


def mdn_nll(out: MDNOutput, target: Tensor) -> Tensor:
    """Mean negative log-likelihood of target z [B, T, Z] under the mixtures (``mdn_log_prob``)."""
    return -mdn_log_prob(out, target).mean()


def done_probability(done_logit: Tensor, done_weight: float) -> Tensor:
    """P(done) from M's done head, undoing the weight on done = 1 targets: training with weight w
    multiplies the predicted odds by w, so the calibrated logit is the head's minus log w."""
    return torch.sigmoid(done_logit - math.log(done_weight))


def sample_mdn(out: MDNOutput, tau: float, generator: torch.Generator | None = None) -> Tensor:
    """Sample z [B, T, Z] at temperature tau: component from softmax(log_pi / tau), then
    mu + sigma * sqrt(tau) * eps. Small tau makes the dream deterministic (and exploitable)."""
    shape = out.mu.shape[:-1]  # [B, T, Z]
    device = out.mu.device
    uniform = torch.rand(shape, generator=generator, device=device)
    eps = torch.randn(shape, generator=generator, device=device, dtype=out.mu.dtype)
    return sample_mdn_from(out, tau, uniform, eps)


def sample_mdn_from(out: MDNOutput, tau: float, uniform: Tensor, eps: Tensor) -> Tensor:
    """``sample_mdn`` with its noise given: ``uniform`` in [0, 1) picks the component by inverse CDF,
    ``eps`` ~ N(0, 1) is the Gaussian noise; both shaped like z. Shared noise lets a whole population
    dream the same scenarios (common random numbers)."""
    if tau <= 0:
        raise ValueError(f"temperature must be positive, got {tau}")
    probs = F.softmax(out.log_pi / tau, dim=-1)  # [..., Z, K]
    below = (probs.cumsum(dim=-1) <= uniform.unsqueeze(-1)).sum(dim=-1, keepdim=True)
    k = below.clamp(max=probs.shape[-1] - 1)  # [..., Z, 1]; the clamp guards rounding at u ~ 1
    mu = out.mu.gather(-1, k).squeeze(-1)
    sigma = out.log_sigma.gather(-1, k).squeeze(-1).exp()
    return mu + sigma * math.sqrt(tau) * eps


def controller_inputs(cfg: HaConfig) -> int:
    """Size of C's input: z, then c and h as the config asks (``controller_features``)."""
    memory = (int(cfg.controller_reads_cell) + 1) if cfg.controller_reads_h else 0
    return cfg.z_size + cfg.rnn_hidden * memory


def controller_features(z: Tensor, h: Tensor, c: Tensor, cfg: HaConfig) -> Tensor:
    """C's input [..., D]: [z], [z, h] or [z, c, h] (the V-only, CarRacing and Doom controllers)."""
    if not cfg.controller_reads_h:
        return z
    return torch.cat([z, c, h] if cfg.controller_reads_cell else [z, h], dim=-1)


class Controller(nn.Module):
    """C: a_t = tanh(W [z_t, h_t] + b) ([z, c, h] for Doom, [z] for V only), optionally with one tanh
    hidden layer; its parameters as a flat vector for CMA-ES."""

    def __init__(self, cfg: HaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        inputs = controller_inputs(cfg)
        if cfg.controller_hidden:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(inputs, cfg.controller_hidden),
                nn.Tanh(),
                nn.Linear(cfg.controller_hidden, cfg.action_dim),
            )
        else:
            self.net = nn.Linear(inputs, cfg.action_dim)

    def forward(self, z: Tensor, h: Tensor, c: Tensor | None = None) -> Tensor:
        """z [B, Z], h [B, hidden] (and the cell c [B, hidden] for Doom) -> actions [B, A] in [-1, 1]."""
        if self.cfg.controller_reads_cell and c is None:
            raise ValueError("this controller reads the LSTM cell state: pass c")
        cell = c if c is not None else h
        return torch.tanh(self.net(controller_features(z, h, cell, self.cfg)))

    def get_flat(self) -> Tensor:
        """All parameters as one vector (the search space of CMA-ES)."""
        return nn.utils.parameters_to_vector(self.parameters()).detach()

    def set_flat(self, flat: Tensor) -> None:
        """Load parameters from a vector made by ``get_flat``."""
        nn.utils.vector_to_parameters(torch.as_tensor(flat, dtype=torch.float32), self.parameters())


@dataclass(frozen=True, eq=False)
class HaWorldModel(WorldModel):
    """V and M as a WorldModel: State z [B, Z], h [B, hidden], extras c [B, hidden].

    ``step`` samples z_{t+1} at the model's temperature; the reward is 1 per step survived (the
    DoomTakeCover score) and cont is 1 - P(done) when M predicts done, else 1.
    """

    vae: ConvVAE
    rnn: MDNRNN
    temperature: float = 1.0
    generator: torch.Generator | None = None

    def initial(self, obs: Tensor) -> State:
        """Frames [B, 64, 64, 3] uint8 (or [B, 3, 64, 64] float in [0, 1]) -> z = mu, zero LSTM state."""
        x = obs.permute(0, 3, 1, 2).float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        mu, _ = self.vae.encode(x)
        zeros = torch.zeros(mu.shape[0], self.rnn.cfg.rnn_hidden, device=mu.device)
        return State(z=mu, h=zeros, extras={"c": zeros.clone()})

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """One LSTM step on [z, a] and a sample of the next z."""
        assert state.h is not None
        hidden = (state.h.unsqueeze(0), state.extras["c"].unsqueeze(0))  # [1, B, hidden] each
        a = action.float().reshape(state.batch_size, 1, -1)  # [B, 1, A]
        out, (h, c) = self.rnn(state.z.unsqueeze(1), a, hidden)
        z_next = sample_mdn(out, self.temperature, self.generator)[:, 0]  # [B, Z]
        b = state.batch_size
        cont = torch.ones(b, device=z_next.device)
        if out.done_logit is not None:
            cont = 1.0 - done_probability(out.done_logit[:, 0], self.rnn.cfg.done_weight)
        return State(z=z_next, h=h[0], extras={"c": c[0]}), StepOut(
            reward=torch.ones(b, device=z_next.device), cont=cont
        )

    def decode(self, state: State) -> Tensor:
        """The frames V draws for the states: [B, 3, 64, 64] in [0, 1]."""
        return self.vae.decode(state.z)
