"""DreamerV3's networks: the RSSM world model, its heads, the actor and the critic.

RSSM (Hafner et al. 2025, Methods "World model learning")::

    h_t = f(h_{t-1}, z_{t-1}, a_{t-1})        sequence model: a block-diagonal GRU
    z_t ~ q(z_t | h_t, x_t)                    encoder (posterior), x_t = enc(o_t)
    z^_t ~ p(z^_t | h_t)                       dynamics predictor (prior)
    r^_t, c^_t, o^_t from (h_t, z_t)           reward, continue and decoder heads

z_t is ``stoch`` categorical variables of ``classes`` classes each, sampled with straight-through
gradients from a distribution that mixes in 1% uniform (unimix). Every hidden layer is
Linear -> RMSNorm -> SiLU. Vector inputs are symlog-squashed; images enter as x / 255 - 0.5.

Deviations: weights use PyTorch's default initialisation (the paper: truncated normal, fan-average)
except the zero-initialised reward and critic outputs; the image encoder halves the resolution with
4x4 stride-2 convolutions (the paper's code: 5x5 with "same" padding), down to 4x4.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.algos.dreamer.config import DreamerConfig
from dreamlab.algos.dreamer.math import sample_categorical, softmax, symlog, unimix_logits

__all__ = [
    "RSSM",
    "Actor",
    "BlockLinear",
    "ImageDecoder",
    "ImageEncoder",
    "Latent",
    "VectorDecoder",
    "VectorEncoder",
    "mlp",
]


def mlp(inp: int, units: int, layers: int, out: int | None = None) -> nn.Sequential:
    """``layers`` x (Linear -> RMSNorm -> SiLU), then an optional output Linear."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [
            nn.Linear(inp if i == 0 else units, units, bias=False),
            nn.RMSNorm(units),
            nn.SiLU(),
        ]
    if out is not None:
        mods.append(nn.Linear(units if layers else inp, out))
    return nn.Sequential(*mods)


def zero_output(net: nn.Sequential) -> nn.Sequential:
    """Zero the last Linear: reward and value heads start predicting exactly 0, which keeps early
    imagined returns from being dominated by random predictions."""
    last = net[-1]
    assert isinstance(last, nn.Linear)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return net


class BlockLinear(nn.Module):
    """A linear layer whose weight is block diagonal: ``blocks`` independent maps from
    in / blocks to out / blocks features. It lets a large GRU state stay cheap."""

    def __init__(self, inp: int, out: int, blocks: int) -> None:
        super().__init__()
        if inp % blocks or out % blocks:
            raise ValueError(
                f"BlockLinear: {inp} and {out} features must divide into {blocks} blocks"
            )
        self.blocks = blocks
        self.weight = nn.Parameter(torch.empty(blocks, inp // blocks, out // blocks))
        self.bias = nn.Parameter(torch.zeros(out))
        bound = (blocks / inp) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """x [B, in] -> [B, out]."""
        xb = x.reshape(x.shape[0], self.blocks, -1)  # [B, G, in / G]
        y = torch.einsum("bgi,gio->bgo", xb, self.weight)  # [B, G, out / G]
        return y.reshape(x.shape[0], -1) + self.bias


@dataclass(frozen=True)
class Latent:
    """An RSSM state: h_t ``deter`` [B, deter] and z_t ``stoch`` [B, stoch, classes] (one-hot
    samples), with the logits it was drawn from [B, stoch, classes]."""

    deter: Tensor
    stoch: Tensor
    logits: Tensor

    def features(self) -> Tensor:
        """[h_t, flat z_t] [..., deter + stoch * classes]: what every head reads (any leading dims)."""
        return torch.cat([self.deter, self.stoch.flatten(-2)], -1)


def _sample(logits: Tensor) -> Tensor:
    """One-hot samples [..., K] with straight-through gradients to the probabilities."""
    probs = softmax(logits)
    index = sample_categorical(probs.detach())
    onehot = F.one_hot(index, probs.shape[-1]).to(probs.dtype)
    return onehot + probs - probs.detach()


class RSSM(nn.Module):
    """The recurrent state-space model: ``img_step`` (prior) and ``obs_step`` (posterior)."""

    def __init__(self, cfg: DreamerConfig, action_dim: int, embed: int) -> None:
        super().__init__()
        self.cfg, self.action_dim = cfg, action_dim
        d, hid, g = cfg.deter, cfg.hidden, cfg.blocks
        flat = cfg.stoch * cfg.classes
        self.in_deter = mlp(d, hid, 1)
        self.in_stoch = mlp(flat, hid, 1)
        self.in_action = mlp(action_dim, hid, 1)
        # every block sees its own slice of h and all three inputs
        self.gru_hidden = BlockLinear(d + g * 3 * hid, d, g)
        self.gru_norm = nn.RMSNorm(d)
        self.gru_gates = BlockLinear(d, 3 * d, g)
        self.prior_net = mlp(d, hid, 2, flat)
        self.post_net = mlp(d + embed, hid, 1, flat)

    def initial(self, batch: int) -> Latent:
        """The all-zero state that starts every episode [B]."""
        c = self.cfg
        zeros = torch.zeros(batch, c.stoch, c.classes)
        return Latent(torch.zeros(batch, c.deter), zeros, zeros)

    def _logits(self, x: Tensor) -> Tensor:
        return unimix_logits(
            x.reshape(x.shape[0], self.cfg.stoch, self.cfg.classes), self.cfg.unimix
        )

    def _core(self, deter: Tensor, stoch: Tensor, action: Tensor) -> Tensor:
        """h_t = f(h_{t-1}, z_{t-1}, a_{t-1}): the block GRU step [B, deter]."""
        g = self.cfg.blocks
        b = deter.shape[0]
        # large continuous actions are scaled into [-1, 1] without a gradient through the scale
        action = action / action.abs().clamp(min=1).detach()
        x = torch.cat(
            [self.in_deter(deter), self.in_stoch(stoch.flatten(1)), self.in_action(action)], -1
        )
        # Block g reads its slice of h and the shared inputs x: the same map as gru_hidden on
        # [h_g, x] per block, computed without copying x G times (one dense matmul for x).
        w = self.gru_hidden.weight  # [G, deter / G + 3 * hidden, deter / G]
        dg = deter.shape[1] // g
        own = torch.einsum("bgi,gio->bgo", deter.reshape(b, g, dg), w[:, :dg])  # [B, G, deter / G]
        shared = x @ w[:, dg:].permute(1, 0, 2).reshape(x.shape[-1], -1)  # [B, deter]
        x = own.reshape(b, -1) + shared + self.gru_hidden.bias
        x = F.silu(self.gru_norm(x))
        gates = self.gru_gates(x).reshape(b, g, 3, -1)  # [B, G, 3, deter / G]
        reset, cand, update = (gates[:, :, i].reshape(b, -1) for i in range(3))
        reset = torch.sigmoid(reset)
        cand = torch.tanh(reset * cand)
        update = torch.sigmoid(update - 1)  # biased toward keeping the old state
        return update * cand + (1 - update) * deter

    def img_step(self, prev: Latent, action: Tensor) -> Latent:
        """Prior step: h_t from the previous state and a_{t-1} [B, A], then z^_t ~ p(. | h_t)."""
        deter = self._core(prev.deter, prev.stoch, action)
        logits = self._logits(self.prior_net(deter))
        return Latent(deter, _sample(logits), logits)

    def obs_step(
        self, prev: Latent, action: Tensor, embed: Tensor, is_first: Tensor
    ) -> tuple[Latent, Tensor]:
        """Posterior step for the embedding x_t [B, E] of o_t; returns (posterior, prior logits).

        Where ``is_first`` [B] is set, the previous state and action are reset to zeros first.
        """
        keep = (~is_first).to(embed.dtype)[:, None]
        prev = Latent(prev.deter * keep, prev.stoch * keep[..., None], prev.logits)
        deter = self._core(prev.deter, prev.stoch, action * keep)
        prior = self._logits(self.prior_net(deter))
        logits = self._logits(self.post_net(torch.cat([deter, embed], -1)))
        return Latent(deter, _sample(logits), logits), prior

    def observe(
        self, embed: Tensor, action: Tensor, is_first: Tensor, start: Latent
    ) -> tuple[Latent, Tensor]:
        """Filter a sequence: embeddings [B, T, E], actions a_{t-1} [B, T, A], is_first [B, T].

        Returns the posteriors stacked over time (fields [B, T, ...]) and the prior logits
        [B, T, stoch, classes].
        """
        state, posts, priors = start, [], []
        for t in range(embed.shape[1]):
            state, prior = self.obs_step(state, action[:, t], embed[:, t], is_first[:, t])
            posts.append(state)
            priors.append(prior)
        stacked = Latent(
            *(torch.stack([getattr(p, k) for p in posts], 1) for k in ("deter", "stoch", "logits"))
        )
        return stacked, torch.stack(priors, 1)


class VectorEncoder(nn.Module):
    """symlog(o) -> MLP -> x_t [B, units]."""

    def __init__(self, obs_dim: int, cfg: DreamerConfig) -> None:
        super().__init__()
        self.net = mlp(obs_dim, cfg.units, cfg.mlp_layers)
        self.out = cfg.units

    def forward(self, obs: Tensor) -> Tensor:
        """obs [B, D] -> [B, units]."""
        return self.net(symlog(obs.float()))


class VectorDecoder(nn.Module):
    """Features -> the symlog of the observation; trained with MSE in symlog space."""

    def __init__(self, feat: int, obs_dim: int, cfg: DreamerConfig) -> None:
        super().__init__()
        self.net = mlp(feat, cfg.units, cfg.mlp_layers, obs_dim)

    def loss(self, feat: Tensor, obs: Tensor) -> Tensor:
        """Squared error summed over the observation's dimensions [B]."""
        return (self.net(feat) - symlog(obs.float())).pow(2).sum(-1)

    def forward(self, feat: Tensor) -> Tensor:
        """The predicted observation [B, D] (symexp of the prediction)."""
        y = self.net(feat)
        return torch.sign(y) * (torch.exp(y.abs()) - 1)


def _channels(cfg: DreamerConfig) -> list[int]:
    return [cfg.depth * m for m in (2, 3, 4, 4)]


class ImageEncoder(nn.Module):
    """64x64 uint8 frames [B, Hh, W, C] (gymnasium's layout) -> 4 stride-2 conv stages -> flat x_t."""

    def __init__(self, channels_in: int, cfg: DreamerConfig) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        c_prev = channels_in
        for c in _channels(cfg):
            mods += [nn.Conv2d(c_prev, c, 4, 2, 1, bias=False), _ChannelNorm(c), nn.SiLU()]
            c_prev = c
        self.net = nn.Sequential(*mods, nn.Flatten())
        self.out = c_prev * 4 * 4

    def forward(self, obs: Tensor) -> Tensor:
        """obs [B, 64, 64, C] uint8 -> [B, E]."""
        if obs.shape[1:3] != (64, 64):
            raise ValueError(f"the image encoder takes 64x64 frames, got {tuple(obs.shape[1:3])}")
        return self.net(obs.permute(0, 3, 1, 2).float() / 255 - 0.5)


class ImageDecoder(nn.Module):
    """Features -> 4x4 map -> 4 transposed-conv stages -> the image (x / 255 - 0.5), MSE loss."""

    def __init__(self, feat: int, channels_out: int, cfg: DreamerConfig) -> None:
        super().__init__()
        chans = _channels(cfg)[::-1]
        self.first = chans[0]
        self.inp = nn.Linear(feat, chans[0] * 16)
        mods: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(chans):
            mods += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                _ChannelNorm(c_out),
                nn.SiLU(),
            ]
        mods.append(nn.ConvTranspose2d(chans[-1], channels_out, 4, 2, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, feat: Tensor) -> Tensor:
        """feat [B, F] -> the predicted frame [B, 64, 64, C] on the input's x / 255 - 0.5 scale."""
        x = self.net(self.inp(feat).reshape(feat.shape[0], self.first, 4, 4))  # [B, C, 64, 64]
        return x.permute(0, 2, 3, 1)

    def loss(self, feat: Tensor, obs: Tensor) -> Tensor:
        """Squared error summed over the pixels of uint8 frames [B, Hh, W, C] -> [B]."""
        return (self.forward(feat) - (obs.float() / 255 - 0.5)).pow(2).flatten(1).sum(-1)


class _ChannelNorm(nn.Module):
    """RMSNorm over the channels of a feature map [B, C, Hh, W]."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Actor(nn.Module):
    """pi(a_t | s_t): a categorical with 1% unimix (discrete) or a bounded normal (continuous)."""

    def __init__(self, feat: int, action_dim: int, discrete: bool, cfg: DreamerConfig) -> None:
        super().__init__()
        self.discrete, self.action_dim, self.cfg = discrete, action_dim, cfg
        self.net = mlp(feat, cfg.units, cfg.mlp_layers, action_dim if discrete else 2 * action_dim)

    def dist(self, feat: Tensor) -> torch.distributions.Distribution:
        """The action distribution for features [B, F]."""
        x = self.net(feat)
        if self.discrete:
            return torch.distributions.Categorical(logits=unimix_logits(x, self.cfg.unimix))
        mean, std = x.chunk(2, -1)
        lo, hi = self.cfg.min_std, self.cfg.max_std
        # mean squashed into the action range, std kept in [min_std, max_std]
        std = (hi - lo) * torch.sigmoid(std + 2.0) + lo
        return torch.distributions.Independent(torch.distributions.Normal(torch.tanh(mean), std), 1)

    def to_env(self, action: Tensor) -> Tensor:
        """A sampled action as the model and environment take it: one-hot [B, A] or clipped [B, A]."""
        if self.discrete:
            return F.one_hot(action.long(), self.action_dim).float()
        return action.clamp(-1, 1)
