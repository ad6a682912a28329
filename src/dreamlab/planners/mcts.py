"""Batched Monte Carlo tree search in a learned model: MuZero's pUCT and Gumbel MuZero's root.

The tree of every environment in the batch lives in flat arrays ([B, N] per node, [B, N, A] per
edge, N = simulations + 1), so one simulation is: select a leaf in every tree (a compiled kernel),
one ``model.step`` for the whole batch, then expand and back up (a compiled kernel). Simulation i
always creates node i + 1, so the batch stays in lock step.

Values follow mctx's convention: a node's value is from the view of the player to move there, and
the value of edge (n, a) is ``Q = r + discount * V(child)``. One player: ``discount = gamma``; two
players taking turns: ``discount = -gamma``, which flips the sign at every ply.

The model is any ``WorldModel`` whose ``step`` returns ``extras["value"]`` [B] and
``extras["policy_logits"]`` [B, A] (a MuZero model does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor

from dreamlab.errors import DreamlabError
from dreamlab.protocols import WorldModel
from dreamlab.types import State

__all__ = ["SearchConfig", "SearchResult", "considered_visits", "mcts", "most_visited"]


@dataclass(frozen=True)
class SearchConfig:
    """Constants of the search; the defaults are the MuZero and Gumbel MuZero papers' values."""

    simulations: int = 50
    discount: float = 0.997
    two_player: bool = False
    """Players alternate: values flip sign at every ply."""
    gumbel: bool = False
    """Gumbel MuZero: Gumbel-top-k and sequential halving at the root, deterministic below it."""
    # pUCT (MuZero)
    c1: float = 1.25
    c2: float = 19652.0
    dirichlet_alpha: float = 0.25
    noise_fraction: float = 0.25
    """Share of Dirichlet noise in the root prior (0 switches the noise off)."""
    # Gumbel MuZero
    max_considered: int = 16
    """m, the actions sampled without replacement at the root."""
    gumbel_scale: float = 1.0
    """Scale of the Gumbel noise (0: deterministic, for evaluation)."""
    c_visit: float = 50.0
    c_scale: float = 0.1
    tree_scale: float = 0.0
    """Gumbel: completed Q is rescaled by max(the node's own range, tree_scale x the tree's range).

    0: the node's own actions' range (mctx). With two actions that maps any gap, however small,
    to 0 and 1, so the policy target turns one-hot on noise. 1: the range of every Q in the tree
    (MuZero's MinMaxStats), so a target is as sharp as its gap is large. In between, gaps above
    that share of the tree's range still give one-hot targets."""

    def __post_init__(self) -> None:
        if self.simulations < 1:
            raise DreamlabError(f"the search needs at least 1 simulation, got {self.simulations}")
        if self.gumbel and self.max_considered < 1:
            raise DreamlabError("Gumbel MuZero needs max_considered >= 1")
        if not 0.0 <= self.tree_scale <= 1.0:
            raise DreamlabError(f"tree_scale must be in [0, 1], got {self.tree_scale}")


@dataclass(frozen=True)
class SearchResult:
    """The search's answer for every environment of the batch.

    ``policy`` is the training target: visit counts normalised (pUCT) or the improved policy
    softmax(logits + sigma(completed Q)) (Gumbel). ``value`` is the root's search value.
    """

    action: np.ndarray  # [B] int64
    visits: np.ndarray  # [B, A] root child visit counts
    policy: np.ndarray  # [B, A]
    value: np.ndarray  # [B]
    q: np.ndarray  # [B, A] root Q values (0 where unvisited)
    tree: SearchTree


@dataclass(frozen=True)
class SearchTree:
    """The arrays of the searched trees, for pictures and tests (N nodes per tree)."""

    child: np.ndarray  # [B, N, A] node index or -1
    parent: np.ndarray  # [B, N]
    parent_action: np.ndarray  # [B, N]
    visits: np.ndarray  # [B, N]
    value_sum: np.ndarray  # [B, N]
    raw_value: np.ndarray  # [B, N] the network's value at the node
    reward: np.ndarray  # [B, N] reward on arriving at the node
    prior: np.ndarray  # [B, N, A]


def most_visited(visits: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The most visited action of each row of ``visits`` [B, A], ties broken by the higher ``q``.

    Ties are common at few simulations (2 actions, 4 simulations: 2 and 2); breaking them by
    index would always pick action 0.
    """
    top = visits == visits.max(axis=1, keepdims=True)
    return np.where(top, q, -np.inf).argmax(axis=1)


def considered_visits(max_considered: int, simulations: int) -> np.ndarray:
    """Sequential halving's schedule: entry i is the visit count the root action chosen at
    simulation i must already have (entry ``simulations`` is one past the budget). The action played
    is the best-scoring of the most visited ones (as in mctx), not one with that last entry.

    With m actions and n simulations, each of log2(m) phases gives every remaining action
    max(1, n / (log2(m) * remaining)) visits, then halves the remaining actions.
    """
    if max_considered <= 1:
        return np.arange(simulations + 1, dtype=np.int64)
    log2max = math.ceil(math.log2(max_considered))
    visits = [0] * max_considered
    sequence: list[int] = []
    remaining = max_considered
    while len(sequence) < simulations + 1:
        extra = max(1, int(simulations / (log2max * remaining)))
        for _ in range(extra):
            sequence.extend(visits[:remaining])
            for i in range(remaining):
                visits[i] += 1
        remaining = max(2, remaining // 2)
    return np.asarray(sequence[: simulations + 1], dtype=np.int64)


def _visit_table(max_considered: int, actions: int, simulations: int) -> np.ndarray:
    """considered_visits for every possible number of considered actions: [A + 1, S + 1]."""
    table = np.zeros((actions + 1, simulations + 1), dtype=np.int64)
    for m in range(1, actions + 1):
        table[m] = considered_visits(min(m, max_considered), simulations)
    return table


# ----------------------------------------------------------------------------- compiled kernels


@numba.njit(cache=True)
def _q(child, visits, value_sum, reward, discount, b, node, a):  # pragma: no cover - compiled
    c = child[b, node, a]
    return reward[b, c] + discount * value_sum[b, c] / visits[b, c]


@numba.njit(cache=True)
def _completed_q(
    child, visits, value_sum, reward, raw_value, prior, discount, b, node, legal, minmax, share, out
):  # pragma: no cover
    """Gumbel MuZero's completed Q of a node's actions, min-max rescaled, into out [A].

    Divided by max(the node's own range, ``share`` x the range of the tree's Q values, ``minmax``
    [B, 2], widened by the node's own); ``share`` 0 is the node-wise rescaling alone.
    """
    n_actions = out.shape[0]
    total, prob_sum, weighted = 0.0, 0.0, 0.0
    for a in range(n_actions):
        c = child[b, node, a]
        if c >= 0:
            total += visits[b, c]
            prob_sum += max(prior[b, node, a], 1e-38)
    for a in range(n_actions):
        c = child[b, node, a]
        if c >= 0:
            q = _q(child, visits, value_sum, reward, discount, b, node, a)
            weighted += max(prior[b, node, a], 1e-38) * q / prob_sum
    mixed = (raw_value[b, node] + total * weighted) / (total + 1.0)
    lo, hi = np.inf, -np.inf
    for a in range(n_actions):
        if child[b, node, a] >= 0:
            out[a] = _q(child, visits, value_sum, reward, discount, b, node, a)
        else:
            out[a] = mixed
        if legal[a]:
            lo = min(lo, out[a])
            hi = max(hi, out[a])
    scale = max(hi - lo, 1e-8)
    if share > 0.0:
        tree = max(hi, minmax[b, 1]) - min(lo, minmax[b, 0])
        scale = max(scale, share * tree)
    for a in range(n_actions):
        out[a] = (out[a] - lo) / scale


@numba.njit(cache=True)
def _sigma(child, visits, qc, c_visit, c_scale, b, node):  # pragma: no cover - compiled
    """sigma(q) = (c_visit + max_a N(a)) * c_scale * q, in place on qc."""
    most = 0
    for a in range(qc.shape[0]):
        c = child[b, node, a]
        if c >= 0 and visits[b, c] > most:
            most = visits[b, c]
    factor = (c_visit + most) * c_scale
    for a in range(qc.shape[0]):
        qc[a] *= factor


@numba.njit(cache=True)
def _select(
    child,
    visits,
    value_sum,
    reward,
    raw_value,
    prior,
    logits,
    minmax,
    legal,
    gumbel_noise,
    table,
    n_legal,
    sim,
    gumbel,
    share,
    discount,
    c1,
    c2,
    c_visit,
    c_scale,
    out_node,
    out_action,
):  # pragma: no cover - compiled
    """Walk every tree from its root to an unexpanded edge; write the leaf's parent and action."""
    n_batch, _, n_actions = child.shape
    all_legal = np.ones(n_actions, dtype=np.bool_)
    qc = np.empty(n_actions)
    for b in range(n_batch):
        node = 0
        while True:
            at_root = node == 0
            mask = legal[b] if at_root else all_legal
            best, best_a = -np.inf, -1
            if gumbel:
                _completed_q(
                    child,
                    visits,
                    value_sum,
                    reward,
                    raw_value,
                    prior,
                    discount,
                    b,
                    node,
                    mask,
                    minmax,
                    share,
                    qc,
                )
                _sigma(child, visits, qc, c_visit, c_scale, b, node)
                if at_root:
                    wanted = table[n_legal[b], sim]
                    for a in range(n_actions):
                        c = child[b, node, a]
                        n_a = visits[b, c] if c >= 0 else 0
                        if mask[a] and n_a == wanted:
                            score = max(-1e9, gumbel_noise[b, a] + logits[b, node, a] + qc[a])
                            if score > best:
                                best, best_a = score, a
                else:
                    # argmax of pi'(a) - N(a) / (1 + sum N), pi' = softmax(logits + sigma(q))
                    top = -np.inf
                    for a in range(n_actions):
                        top = max(top, logits[b, node, a] + qc[a])
                    z, total = 0.0, 0
                    for a in range(n_actions):
                        qc[a] = math.exp(logits[b, node, a] + qc[a] - top)
                        z += qc[a]
                        c = child[b, node, a]
                        if c >= 0:
                            total += visits[b, c]
                    for a in range(n_actions):
                        c = child[b, node, a]
                        n_a = visits[b, c] if c >= 0 else 0
                        score = qc[a] / z - n_a / (1.0 + total)
                        if score > best:
                            best, best_a = score, a
            else:
                n_parent = visits[b, node]
                explore = (math.log((n_parent + c2 + 1.0) / c2) + c1) * math.sqrt(n_parent)
                lo, hi = minmax[b, 0], minmax[b, 1]
                for a in range(n_actions):
                    if not mask[a]:
                        continue
                    c = child[b, node, a]
                    value, n_a = 0.0, 0
                    if c >= 0:
                        n_a = visits[b, c]
                        value = _q(child, visits, value_sum, reward, discount, b, node, a)
                        if hi > lo:
                            value = (value - lo) / (hi - lo)
                    score = value + prior[b, node, a] * explore / (1.0 + n_a)
                    if score > best:
                        best, best_a = score, a
            nxt = child[b, node, best_a]
            if nxt < 0:
                out_node[b] = node
                out_action[b] = best_a
                break
            node = nxt


@numba.njit(cache=True)
def _expand_backup(
    child,
    parent,
    parent_action,
    visits,
    value_sum,
    reward,
    raw_value,
    prior,
    logits,
    minmax,
    new,
    from_node,
    action,
    new_reward,
    new_value,
    new_logits,
    discount,
):  # pragma: no cover - compiled
    """Attach node ``new`` below (from_node, action) in every tree and back its value up."""
    n_batch, _, n_actions = child.shape
    for b in range(n_batch):
        p, a = from_node[b], action[b]
        child[b, p, a] = new
        parent[b, new] = p
        parent_action[b, new] = a
        reward[b, new] = new_reward[b]
        raw_value[b, new] = new_value[b]
        top = -np.inf
        for k in range(n_actions):
            logits[b, new, k] = new_logits[b, k]
            top = max(top, new_logits[b, k])
        z = 0.0
        for k in range(n_actions):
            prior[b, new, k] = math.exp(new_logits[b, k] - top)
            z += prior[b, new, k]
        for k in range(n_actions):
            prior[b, new, k] /= z
        g = new_value[b]
        node = new
        while node >= 0:
            value_sum[b, node] += g
            visits[b, node] += 1
            if parent[b, node] >= 0:
                q = reward[b, node] + discount * value_sum[b, node] / visits[b, node]
                minmax[b, 0] = min(minmax[b, 0], q)
                minmax[b, 1] = max(minmax[b, 1], q)
                g = reward[b, node] + discount * g
            node = parent[b, node]


# ----------------------------------------------------------------------------- the search


class _NodeStates:
    """Model states of every node, preallocated as [N, B, ...] per tensor of the State."""

    def __init__(self, root: State, nodes: int) -> None:
        self.names = list(root.tensors())
        self.store = {
            k: torch.empty((nodes, *t.shape), dtype=t.dtype) for k, t in root.tensors().items()
        }
        self.put(0, root)

    def put(self, node: int, state: State) -> None:
        for k, t in state.tensors().items():
            self.store[k][node] = t

    def get(self, nodes: np.ndarray) -> State:
        idx, rows = torch.as_tensor(nodes), torch.arange(len(nodes))
        t = {k: v[idx, rows] for k, v in self.store.items()}  # [B, ...]
        extras = {k.removeprefix("extras."): v for k, v in t.items() if k.startswith("extras.")}
        return State(z=t["z"], h=t.get("h"), extras=extras)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy()


def mcts(
    model: WorldModel,
    root: State,
    root_value: Tensor,
    root_logits: Tensor,
    cfg: SearchConfig,
    rng: np.random.Generator,
    legal: np.ndarray | None = None,
    temperature: float = 1.0,
) -> SearchResult:
    """Search from ``root`` (B states with their network value [B] and policy logits [B, A]).

    ``legal`` [B, A] masks the root's actions (inside the tree every action is allowed, as in
    MuZero). pUCT picks the move by sampling visit counts ** (1 / temperature) (temperature 0:
    ``most_visited``); Gumbel MuZero picks the action left after sequential halving.
    """
    b, n_actions = root_logits.shape
    n = cfg.simulations + 1
    legal_np = np.ones((b, n_actions), dtype=np.bool_) if legal is None else np.asarray(legal, bool)
    if legal_np.shape != (b, n_actions):
        raise DreamlabError(f"legal mask has shape {legal_np.shape}, expected {(b, n_actions)}")
    if not legal_np.any(axis=1).all():
        raise DreamlabError("every root needs at least one legal action")
    discount = -cfg.discount if cfg.two_player else cfg.discount
    child = np.full((b, n, n_actions), -1, dtype=np.int64)
    parent = np.full((b, n), -1, dtype=np.int64)
    parent_action = np.full((b, n), -1, dtype=np.int64)
    visits = np.zeros((b, n), dtype=np.int64)
    value_sum = np.zeros((b, n))
    reward = np.zeros((b, n))
    raw_value = np.zeros((b, n))
    prior = np.zeros((b, n, n_actions))
    logits = np.zeros((b, n, n_actions))
    minmax = np.tile(np.array([np.inf, -np.inf]), (b, 1))

    root_l = _np(root_logits)
    root_l = np.where(legal_np, root_l, root_l.min(axis=1, keepdims=True) - 1e9 * (~legal_np))
    p = np.exp(root_l - root_l.max(axis=1, keepdims=True)) * legal_np
    p /= p.sum(axis=1, keepdims=True)
    gumbel_noise = np.zeros((b, n_actions))
    if cfg.gumbel:
        gumbel_noise = cfg.gumbel_scale * rng.gumbel(size=(b, n_actions))
    elif cfg.noise_fraction > 0:
        for i in range(b):
            ok = np.flatnonzero(legal_np[i])
            noise = rng.dirichlet([cfg.dirichlet_alpha] * len(ok))
            p[i, ok] = (1 - cfg.noise_fraction) * p[i, ok] + cfg.noise_fraction * noise
    prior[:, 0], logits[:, 0] = p, root_l
    raw_value[:, 0] = value_sum[:, 0] = _np(root_value)
    visits[:, 0] = 1  # the root counts its own evaluation, as in mctx
    n_legal = legal_np.sum(axis=1).astype(np.int64)
    table = _visit_table(cfg.max_considered, n_actions, cfg.simulations)

    states = _NodeStates(root, n)
    from_node = np.zeros(b, dtype=np.int64)
    action = np.zeros(b, dtype=np.int64)
    for sim in range(cfg.simulations):
        _select(
            child,
            visits,
            value_sum,
            reward,
            raw_value,
            prior,
            logits,
            minmax,
            legal_np,
            gumbel_noise,
            table,
            n_legal,
            sim,
            cfg.gumbel,
            float(cfg.tree_scale),
            discount,
            cfg.c1,
            cfg.c2,
            cfg.c_visit,
            cfg.c_scale,
            from_node,
            action,
        )
        with torch.no_grad():
            nxt, out = model.step(states.get(from_node), torch.as_tensor(action))
        if "value" not in out.extras or "policy_logits" not in out.extras:
            raise DreamlabError("mcts needs a model whose step returns value and policy_logits")
        states.put(sim + 1, nxt)
        _expand_backup(
            child,
            parent,
            parent_action,
            visits,
            value_sum,
            reward,
            raw_value,
            prior,
            logits,
            minmax,
            sim + 1,
            from_node,
            action,
            _np(out.reward),
            _np(out.extras["value"]),
            _np(out.extras["policy_logits"]),
            discount,
        )

    kids = child[:, 0]  # [B, A]
    rows = np.arange(b)[:, None]
    safe = np.maximum(kids, 0)
    root_visits = np.where(kids >= 0, visits[rows, safe], 0)
    q = np.where(
        kids >= 0,
        reward[rows, safe] + discount * value_sum[rows, safe] / np.maximum(visits[rows, safe], 1),
        0.0,
    )
    if cfg.gumbel:
        qc = np.zeros((b, n_actions))
        chosen = np.zeros(b, dtype=np.int64)
        for i in range(b):
            _completed_q(
                child,
                visits,
                value_sum,
                reward,
                raw_value,
                prior,
                discount,
                i,
                0,
                legal_np[i],
                minmax,
                float(cfg.tree_scale),
                qc[i],
            )
            _sigma(child, visits, qc[i], cfg.c_visit, cfg.c_scale, i, 0)
            wanted = root_visits[i][legal_np[i]].max()
            score = np.maximum(-1e9, gumbel_noise[i] + root_l[i] + qc[i])
            score = np.where(legal_np[i] & (root_visits[i] == wanted), score, -np.inf)
            chosen[i] = int(score.argmax())
        improved = np.where(legal_np, root_l + qc, -np.inf)
        policy = np.exp(improved - improved.max(axis=1, keepdims=True))
        policy /= policy.sum(axis=1, keepdims=True)
    else:
        policy = root_visits / root_visits.sum(axis=1, keepdims=True)
        if temperature == 0:
            chosen = most_visited(root_visits, q)
        else:
            w = root_visits.astype(np.float64) ** (1.0 / temperature)
            w /= w.sum(axis=1, keepdims=True)
            chosen = np.array([rng.choice(n_actions, p=w[i]) for i in range(b)])
    tree = SearchTree(child, parent, parent_action, visits, value_sum, raw_value, reward, prior)
    return SearchResult(
        action=np.asarray(chosen, dtype=np.int64),
        visits=root_visits,
        policy=policy,
        value=value_sum[:, 0] / visits[:, 0],
        q=q,
        tree=tree,
    )
