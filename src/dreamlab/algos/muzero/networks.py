"""MuZero's three functions: representation h, dynamics g and prediction f.

    s_0 = h(o_t)                 latent state, min-max scaled to [0, 1]
    s_k, r_k = g(s_{k-1}, a)     next latent state and reward (categorical over h(x)'s support)
    p_k, v_k = f(s_k)            policy logits and value (categorical)

With ``consistency`` on, two small heads serve EfficientZero's self-supervised consistency loss
(Ye et al. 2021): a projector (latent -> hidden) applied to both sides and a predictor applied to the
dynamics' side only, as in SimSiam.

``MuZeroNet`` is also a dreamlab ``WorldModel``: ``step`` returns the scalar reward, and the value
and policy logits that tree search needs as StepOut extras.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlab.nn.twohot import from_logits
from dreamlab.types import State, StepOut

__all__ = ["MuZeroNet", "scale_gradient", "scale_latent"]


def scale_latent(s: Tensor) -> Tensor:
    """Min-max scale each latent state [B, D] to [0, 1] (the paper's normalisation)."""
    lo = s.min(dim=-1, keepdim=True).values
    hi = s.max(dim=-1, keepdim=True).values
    return (s - lo) / (hi - lo + 1e-5)


def scale_gradient(x: Tensor, scale: float) -> Tensor:
    """Identity forward; the gradient flowing back is multiplied by ``scale``."""
    return x * scale + x.detach() * (1 - scale)


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.LayerNorm(hidden), nn.ELU(), nn.Linear(hidden, out)
    )


class MuZeroNet(nn.Module):
    """h, g and f as small MLPs over vector observations."""

    def __init__(
        self,
        obs_dim: int,
        actions: int,
        hidden: int = 64,
        latent: int = 32,
        support: int = 20,
        consistency: bool = False,
        transformed: bool = True,
    ) -> None:
        super().__init__()
        self.actions, self.support, self.transformed = actions, support, transformed
        bins = 2 * support + 1
        self.represent = _mlp(obs_dim, hidden, latent)
        self.dynamics = _mlp(latent + actions, hidden, latent)
        self.reward_head = _mlp(latent, hidden, bins)
        self.policy_head = _mlp(latent, hidden, actions)
        self.value_head = _mlp(latent, hidden, bins)
        if consistency:
            self.projector = _mlp(latent, hidden, hidden)
            self.project_predictor = _mlp(hidden, hidden, hidden)

    def consistency_loss(self, predicted: Tensor, observed: Tensor) -> Tensor:
        """Negative cosine similarity [B] between the predictor's view of a dynamics latent
        [B, D] and the projection of the latent encoded from the real observation [B, D]; the
        observed side carries no gradient (SimSiam's stop-gradient keeps it from collapsing)."""
        p = self.project_predictor(self.projector(predicted))
        with torch.no_grad():
            z = self.projector(observed)
        return -F.cosine_similarity(p, z, dim=-1)

    def scalar(self, logits: Tensor) -> Tensor:
        """The value or reward [...] that categorical logits [..., 2S + 1] stand for."""
        return from_logits(logits, transformed=self.transformed)

    def represent_obs(self, obs: Tensor) -> Tensor:
        """h: observations [B, D_obs] -> latent states [B, D]."""
        return scale_latent(self.represent(obs.float()))

    def predict(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """f: policy logits [B, A] and value logits [B, 2S + 1]."""
        return self.policy_head(s), self.value_head(s)

    def recurrent(self, s: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """g: next latent [B, D] and reward logits [B, 2S + 1] for actions [B] (int64)."""
        x = torch.cat([s, F.one_hot(action, self.actions).to(s.dtype)], dim=-1)
        nxt = scale_latent(self.dynamics(x))
        return nxt, self.reward_head(nxt)

    # the WorldModel contract, for search, rollouts and planners
    def initial(self, obs: Tensor) -> State:
        """Encode observations [B, D_obs] into latent states."""
        return State(z=self.represent_obs(obs))

    def root(self, obs: Tensor) -> tuple[State, Tensor, Tensor]:
        """The search root: states, scalar values [B] and policy logits [B, A] of observations."""
        s = self.represent_obs(obs)
        logits, value = self.predict(s)
        return State(z=s), self.scalar(value), logits

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """One imagined step: the next state, its reward, and its value and policy logits."""
        nxt, reward = self.recurrent(state.z, action.long())
        logits, value = self.predict(nxt)
        out = StepOut(
            reward=self.scalar(reward),
            cont=torch.ones(len(nxt), dtype=nxt.dtype),
            extras={"value": self.scalar(value), "policy_logits": logits},
        )
        return State(z=nxt), out
