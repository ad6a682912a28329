"""The pure math of DreamerV3 (Hafner et al., "Mastering diverse control tasks through world
models", Nature 2025): transforms, two-hot heads, KL losses, returns and the optimiser.

Functions and the equations they implement (shape legend of DESIGN.md: B batch, T time,
H horizon, G latent groups, K classes)::

    symlog(x)             = sign(x) ln(|x| + 1)
    symexp(x)             = sign(x) (exp(|x|) - 1)                      (inverse of symlog)
    twohot_bins(n)        = linspace(-20, 20, n), the bins in symlog space
    twohot_encode(y, b)   = weights on the two bins around y whose expectation is y
    twohot_decode(l, b)   = symexp(softmax(l) . b)
    twohot_loss(l, y, b)  = -twohot_encode(symlog(y), b) . log softmax(l)
    unimix_logits(l, u)   = log((1 - u) softmax(l) + u / K)
    kl_categorical(q, p)  = sum_groups sum_classes q (log q - log p)
    dyn_rep_losses(q, p)  = max(1, KL[sg(q) || p]), max(1, KL[q || sg(p)])
    lambda_returns        R_t = r_{t+1} + c_{t+1} ((1 - lambda) v_{t+1} + lambda R_{t+1}), R_H = v_H
    ReturnNormalizer      S = EMA(P95(R) - P5(R)) (each percentile its own EMA), scale max(1, S)
    LaProp                m_t = b1 m_{t-1} + (1 - b1) g_t / (sqrt(v_t / (1 - b2^t)) + eps)
    agc_                  g <- g min(1, clip max(|w|, eps) / |g|) per parameter tensor

Choices where the paper leaves room, each documented at its function: the two-hot bins are
returned in symlog space; ``cont`` in ``lambda_returns`` already includes the discount gamma;
the return normaliser starts its EMAs at the first batch's percentiles; LaProp corrects the bias
of both its moments; adaptive gradient clipping uses whole-tensor norms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import overload

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

__all__ = [
    "LaProp",
    "ReturnNormalizer",
    "agc_",
    "dyn_rep_losses",
    "kl_categorical",
    "lambda_returns",
    "log_softmax",
    "sample_categorical",
    "softmax",
    "symexp",
    "symlog",
    "twohot_bins",
    "twohot_decode",
    "twohot_encode",
    "twohot_loss",
    "unimix_logits",
]


def symlog(x: Tensor) -> Tensor:
    """sign(x) ln(|x| + 1) [...]: compresses large magnitudes, identity-like near 0."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: Tensor) -> Tensor:
    """sign(x) (exp(|x|) - 1) [...], the inverse of ``symlog``."""
    return torch.sign(x) * torch.expm1(x.abs())


def twohot_bins(
    n: int = 255, low: float = -20.0, high: float = 20.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    """The two-hot bins [n] in symlog space: linspace(low, high, n).

    Heads predict a categorical over these points of symlog space, so in real space the bins sit
    at symexp(linspace(low, high, n)): dense near 0, exponentially sparse towards +-symexp(20)
    (about 4.9e8). Every function here takes the bins in symlog space.
    """
    return torch.linspace(low, high, n, dtype=dtype)


def twohot_encode(y_symlog: Tensor, bins: Tensor) -> Tensor:
    """Two-hot weights [..., n] on ``bins`` [n] (sorted, same dtype) for targets ``y_symlog`` [...].

    The weight sits on the two neighbouring bins b_k <= y < b_{k+1}, split so that the expectation
    sum_i w_i b_i equals y; a value exactly on a bin gets weight 1 there. Values outside the bins
    are clipped to the end bins first.
    """
    n = bins.shape[0]
    y = torch.clamp(y_symlog, bins[0], bins[-1])
    # Index of the last bin <= y, kept below n - 1 so that the upper neighbour always exists;
    # at the top bin that puts weight 1 on the upper neighbour, which is the top bin itself.
    lower = (torch.searchsorted(bins, y.contiguous(), right=True) - 1).clamp(0, n - 2)
    upper = lower + 1
    b_lower, b_upper = bins[lower], bins[upper]
    w_upper = (y - b_lower) / (b_upper - b_lower)
    out = torch.zeros((*y.shape, n), dtype=y.dtype, device=y.device)
    out.scatter_(-1, lower.unsqueeze(-1), (1 - w_upper).unsqueeze(-1))
    out.scatter_(-1, upper.unsqueeze(-1), w_upper.unsqueeze(-1))
    return out


def twohot_decode(logits: Tensor, bins: Tensor) -> Tensor:
    """The real-valued prediction [...] of ``logits`` [..., n]: symexp(softmax(logits) . bins)."""
    return symexp(logits.softmax(-1) @ bins)


def twohot_loss(logits: Tensor, y: Tensor, bins: Tensor) -> Tensor:
    """Cross-entropy [...] of ``logits`` [..., n] against the two-hot of symlog(y), y [...] real.

    The target is a constant: gradients flow into the logits only.
    """
    target = twohot_encode(symlog(y.detach()), bins)
    return -(target * logits.log_softmax(-1)).sum(-1)


def softmax(x: Tensor) -> Tensor:
    """softmax over the last axis; written out for few classes, where torch's kernel is ~4x slower
    on a CPU (the RSSM's 4-class latents are softmaxed ~100 times per update)."""
    if x.shape[-1] > 16:
        return x.softmax(-1)
    e = (x - x.detach().amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def log_softmax(x: Tensor) -> Tensor:
    """log softmax over the last axis, fast for few classes (see ``softmax``)."""
    if x.shape[-1] > 16:
        return x.log_softmax(-1)
    return x - x.logsumexp(-1, keepdim=True)


def sample_categorical(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Class indices [...] drawn from ``probs`` [..., K] by inverting the CDF with one uniform per
    row (several times faster than ``torch.multinomial`` for many small rows)."""
    u = torch.rand((*probs.shape[:-1], 1), generator=generator, dtype=probs.dtype)
    # the last class catches any rounding of the cumulative sum below 1
    return (probs.cumsum(-1) < u).sum(-1).clamp(max=probs.shape[-1] - 1)


def unimix_logits(logits: Tensor, unimix: float = 0.01) -> Tensor:
    """Log-probabilities [..., K] of (1 - unimix) softmax(logits) + unimix / K over the last axis.

    The uniform share keeps every probability >= unimix / K, so KL terms and log-probabilities
    stay finite even when the network becomes overconfident.
    """
    probs = (1 - unimix) * softmax(logits) + unimix / logits.shape[-1]
    return torch.log(probs)


def kl_categorical(post_logits: Tensor, prior_logits: Tensor) -> Tensor:
    """KL(post || prior) [...] of G independent categoricals, inputs [..., G, K], finite logits.

    Summed over the classes and over the groups: the latent is the product of the G groups.
    """
    log_q = log_softmax(post_logits)
    log_p = log_softmax(prior_logits)
    return (log_q.exp() * (log_q - log_p)).sum((-2, -1))


def dyn_rep_losses(
    post_logits: Tensor, prior_logits: Tensor, free: float = 1.0
) -> tuple[Tensor, Tensor]:
    """DreamerV3's dynamics and representation losses (dyn, rep), each [...], inputs [..., G, K].

    dyn = max(free, KL[sg(post) || prior]) trains the prior towards the posterior;
    rep = max(free, KL[post || sg(prior)]) trains the posterior (encoder) towards the prior.
    The clip applies per element to the KL summed over groups, before the caller averages.
    Below ``free`` nats the loss is constant and its gradient zero on purpose ("free bits"):
    the latent may carry that much information without being pushed towards the prior.
    """
    dyn = kl_categorical(post_logits.detach(), prior_logits).clamp(min=free)
    rep = kl_categorical(post_logits, prior_logits.detach()).clamp(min=free)
    return dyn, rep


def lambda_returns(reward: Tensor, cont: Tensor, value: Tensor, lam: float = 0.95) -> Tensor:
    """Lambda-returns [B, H] of imagined trajectories; inputs [B, H + 1] over states t = 0 .. H.

    Dreamer's time indexing: reward[:, t] and cont[:, t] belong to arriving in state t (so
    reward[:, 0] and cont[:, 0] are unused), value[:, t] = v(s_t). ``cont`` already includes
    the discount: cont = gamma * P(episode continues). Then, for t < H::

        R_t = r_{t+1} + c_{t+1} ((1 - lam) v_{t+1} + lam R_{t+1}),    R_H = v_H

    lam = 0 gives one-step TD targets, lam = 1 the discounted return bootstrapped at H.
    """
    horizon = reward.shape[1] - 1
    returns = [value[:, horizon]]
    for t in reversed(range(horizon)):
        nxt = t + 1
        returns.append(
            reward[:, nxt] + cont[:, nxt] * ((1 - lam) * value[:, nxt] + lam * returns[-1])
        )
    # returns holds R_H .. R_0; drop R_H, which is only the bootstrap.
    return torch.stack(returns[:0:-1], 1)


class ReturnNormalizer:
    """Scale of the advantages: max(1, S) with S = EMA(P95) - EMA(P5) of the lambda-returns.

    Each ``update`` takes the 5th and 95th percentiles of a batch of returns (torch.quantile,
    linear interpolation like np.percentile) and moves an EMA of each by ``rate``. The first
    update sets the EMAs to that batch's percentiles (rather than starting at zero and
    correcting the bias): both give the first batch's values, this one without a correction term.
    Dividing by max(1, S) shrinks large returns but never inflates small ones, so in sparse-reward
    tasks the entropy bonus is not drowned by amplified noise.
    """

    def __init__(self, rate: float = 0.01, low_q: float = 0.05, high_q: float = 0.95) -> None:
        self.rate = rate
        self.low_q = low_q
        self.high_q = high_q
        self.low: float | None = None
        self.high: float | None = None

    def update(self, returns: Tensor) -> None:
        """Fold a batch of returns (any shape) into the percentile EMAs."""
        x = returns.detach().reshape(-1)
        if not x.is_floating_point():
            x = x.float()
        q = torch.quantile(
            x, torch.tensor([self.low_q, self.high_q], dtype=x.dtype, device=x.device)
        )
        low, high = float(q[0]), float(q[1])
        if self.low is None or self.high is None:
            self.low, self.high = low, high
        else:
            self.low += self.rate * (low - self.low)
            self.high += self.rate * (high - self.high)

    @property
    def scale(self) -> float:
        """max(1, P95 - P5) of the EMAs; 1 before the first update."""
        if self.low is None or self.high is None:
            return 1.0
        return max(1.0, self.high - self.low)

    def state(self) -> dict[str, float | None]:
        """The EMAs as a JSON-ready dict (for checkpoints)."""
        return {"low": self.low, "high": self.high}

    def load(self, state: dict[str, float | None]) -> None:
        """Restore the EMAs saved by ``state``."""
        self.low, self.high = state["low"], state["high"]


class LaProp(torch.optim.Optimizer):
    """LaProp (Ziyin et al. 2020): RMS-normalise the gradient, then apply momentum to the result.

    Per parameter, with g_t its gradient and t the step count from 1::

        v_t = b2 v_{t-1} + (1 - b2) g_t^2
        m_t = b1 m_{t-1} + (1 - b1) g_t / (sqrt(v_t / (1 - b2^t)) + eps)
        w_t = w_{t-1} - lr m_t / (1 - b1^t)

    Unlike Adam, the momentum averages already-normalised steps, so a sudden large gradient
    cannot dominate the update through the numerator alone. Both moments start at zero and are
    bias-corrected, so the first step is -lr g / (|g| + eps), about -lr sign(g). Learning-rate
    warm-up is the caller's: change ``param_groups[i]["lr"]``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 4e-5,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-20,
    ) -> None:
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"LaProp: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    state["exp_avg"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                v, m = state["exp_avg_sq"], state["exp_avg"]
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                normalised = p.grad / ((v / (1 - beta2**t)).sqrt_() + eps)
                m.mul_(beta1).add_(normalised, alpha=1 - beta1)
                p.add_(m, alpha=-lr / (1 - beta1**t))
        return loss


@torch.no_grad()
def agc_(params: Iterable[Tensor], clip: float = 0.3, eps: float = 1e-3) -> None:
    """Adaptive gradient clipping in place: per parameter tensor w with gradient g,
    if |g| > clip max(|w|, eps) then g <- g clip max(|w|, eps) / |g| (Euclidean norms).

    Norms are over the whole tensor (Brock et al. 2021 clip per output unit). The bound follows
    the weight's size, so small layers are not starved by a global clip tuned for big ones;
    ``eps`` lets zero-initialised weights still move.
    """
    for p in params:
        if p.grad is None:
            continue
        # Tensor arithmetic rather than Python floats: no device sync per parameter on a GPU.
        bound = clip * torch.linalg.vector_norm(p).clamp(min=eps)
        norm = torch.linalg.vector_norm(p.grad)
        p.grad.mul_(torch.where(norm > bound, bound / norm, torch.ones_like(norm)))
