"""Batched MCTS against a plain one-environment reference, and Gumbel MuZero's budget."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from dreamlab.errors import DreamlabError
from dreamlab.planners.mcts import SearchConfig, considered_visits, mcts, most_visited
from dreamlab.types import State, StepOut


class FixedModel:
    """A fixed random latent model: z' = tanh(W_a z), reward u.z', value v.z', logits L z'."""

    def __init__(self, dim: int = 6, actions: int = 4, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(actions, dim, dim, generator=g, dtype=torch.float64) / math.sqrt(dim)
        self.u = torch.randn(dim, generator=g, dtype=torch.float64)
        self.v = torch.randn(dim, generator=g, dtype=torch.float64)
        self.lw = torch.randn(actions, dim, generator=g, dtype=torch.float64)
        self.calls = 0

    def heads(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return z @ self.v, z @ self.lw.T

    def initial(self, obs: torch.Tensor) -> State:
        return State(z=torch.tanh(obs))

    def step(self, state: State, action: torch.Tensor) -> tuple[State, StepOut]:
        self.calls += 1
        z = torch.tanh(torch.einsum("bij,bj->bi", self.w[action], state.z))
        value, logits = self.heads(z)
        out = StepOut(
            reward=z @ self.u,
            cont=torch.ones(len(z), dtype=z.dtype),
            extras={"value": value, "policy_logits": logits},
        )
        return State(z=z), out


class Node:
    """The reference: MuZero's pseudocode (and mctx's Gumbel rules), one tree, plain Python."""

    def __init__(self, prior: float) -> None:
        self.prior, self.visits, self.value_sum, self.reward = prior, 0, 0.0, 0.0
        self.children: dict[int, Node] = {}
        self.z: torch.Tensor | None = None
        self.logits: np.ndarray | None = None
        self.raw = 0.0

    def value(self) -> float:
        return self.value_sum / self.visits


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _expand(node: Node, z: torch.Tensor, value: float, logits: np.ndarray, reward: float) -> None:
    node.z, node.raw, node.logits, node.reward = z, value, logits, reward
    node.prior_vec = _softmax(logits)  # type: ignore[attr-defined]


def _completed(
    node: Node,
    discount: float,
    legal: np.ndarray,
    cfg: SearchConfig,
    tree: tuple[float, float] = (math.inf, -math.inf),
) -> np.ndarray:
    prior = node.prior_vec  # type: ignore[attr-defined]
    kids = node.children
    total = sum(c.visits for c in kids.values())
    q = {a: c.reward + discount * c.value() for a, c in kids.items()}
    psum = sum(max(prior[a], 1e-38) for a in kids)
    weighted = sum(max(prior[a], 1e-38) * q[a] / psum for a in kids) if kids else 0.0
    mixed = (node.raw + total * weighted) / (total + 1)
    out = np.array([q.get(a, mixed) for a in range(len(prior))])
    lo, hi = out[legal].min(), out[legal].max()
    scale = max(hi - lo, 1e-8)
    if cfg.tree_scale > 0:  # at least that share of the range of every Q seen in the tree
        scale = max(scale, cfg.tree_scale * (max(hi, tree[1]) - min(lo, tree[0])))
    out = (out - lo) / scale
    most = max([c.visits for c in kids.values()], default=0)
    return (cfg.c_visit + most) * cfg.c_scale * out


def reference_search(
    model: FixedModel, z0: torch.Tensor, cfg: SearchConfig, legal: np.ndarray, gumbel: np.ndarray
) -> tuple[np.ndarray, int]:
    discount = -cfg.discount if cfg.two_player else cfg.discount
    value, logits = model.heads(z0[None])
    root = Node(1.0)
    lg = logits[0].numpy().copy()
    lg = np.where(legal, lg, lg.min() - 1e9)
    _expand(root, z0, float(value[0]), lg, 0.0)
    root.prior_vec = _softmax(lg) * legal  # type: ignore[attr-defined]
    root.prior_vec /= root.prior_vec.sum()  # type: ignore[attr-defined]
    root.visits, root.value_sum = 1, float(value[0])
    lo, hi = math.inf, -math.inf
    n_actions = len(lg)
    table = considered_visits(min(int(legal.sum()), cfg.max_considered), cfg.simulations)
    for sim in range(cfg.simulations):
        node, path = root, [root]
        while True:
            allowed = legal if node is root else np.ones(n_actions, bool)
            scores = np.full(n_actions, -np.inf)
            if cfg.gumbel:
                qc = _completed(node, discount, allowed, cfg, (lo, hi))
                counts = np.array(
                    [node.children[a].visits if a in node.children else 0 for a in range(n_actions)]
                )
                if node is root:
                    for a in range(n_actions):
                        if allowed[a] and counts[a] == table[sim]:
                            scores[a] = max(-1e9, gumbel[a] + node.logits[a] + qc[a])
                else:
                    pi = _softmax(node.logits + qc)
                    scores = pi - counts / (1 + counts.sum())
            else:
                explore = (math.log((node.visits + cfg.c2 + 1) / cfg.c2) + cfg.c1) * math.sqrt(
                    node.visits
                )
                for a in range(n_actions):
                    if not allowed[a]:
                        continue
                    kid = node.children.get(a)
                    v, n_a = 0.0, 0
                    if kid is not None:
                        n_a = kid.visits
                        v = kid.reward + discount * kid.value()
                        if hi > lo:
                            v = (v - lo) / (hi - lo)
                    scores[a] = v + node.prior_vec[a] * explore / (1 + n_a)  # type: ignore[attr-defined]
            a = int(scores.argmax())
            if a not in node.children:
                break
            node = node.children[a]
            path.append(node)
        nxt, out = model.step(State(z=node.z[None]), torch.tensor([a]))
        kid = Node(0.0)
        _expand(
            kid,
            nxt.z[0],
            float(out.extras["value"][0]),
            out.extras["policy_logits"][0].numpy(),
            float(out.reward[0]),
        )
        node.children[a] = kid
        path.append(kid)
        g = kid.raw
        for n in reversed(path):
            n.value_sum += g
            n.visits += 1
            if n is not root:
                q = n.reward + discount * n.value()
                lo, hi = min(lo, q), max(hi, q)
                g = n.reward + discount * g
    visits = np.array(
        [root.children[a].visits if a in root.children else 0 for a in range(n_actions)]
    )
    final = -1
    if cfg.gumbel:
        qc = _completed(root, discount, legal, cfg, (lo, hi))
        score = np.maximum(-1e9, gumbel + root.logits + qc)
        final = int(np.where(legal & (visits == visits.max()), score, -np.inf).argmax())
    return visits, final


@pytest.mark.parametrize(
    "cfg",
    [
        SearchConfig(simulations=40, noise_fraction=0.0),
        SearchConfig(simulations=25, noise_fraction=0.0, two_player=True, discount=1.0),
        SearchConfig(simulations=30, gumbel=True, max_considered=4),
        SearchConfig(simulations=17, gumbel=True, max_considered=16, two_player=True),
        SearchConfig(simulations=30, gumbel=True, max_considered=4, tree_scale=1.0),
        SearchConfig(simulations=30, gumbel=True, max_considered=4, tree_scale=0.2),
    ],
    ids=[
        "puct",
        "puct-two-player",
        "gumbel",
        "gumbel-two-player",
        "gumbel-tree",
        "gumbel-tree-share",
    ],
)
def test_batched_tree_matches_the_one_environment_reference(cfg: SearchConfig) -> None:
    model = FixedModel()
    b, n_actions = 5, 4
    z0 = torch.tanh(
        torch.randn(b, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    )
    legal = np.ones((b, n_actions), bool)
    legal[1, 2] = legal[3, 0] = legal[3, 3] = False
    value, logits = model.heads(z0)
    rng = np.random.default_rng(3)
    result = mcts(model, State(z=z0), value, logits, cfg, rng, legal=legal, temperature=0)
    # The batched search draws its Gumbel noise first from the same generator.
    gumbel = np.random.default_rng(3).gumbel(size=(b, n_actions)) * cfg.gumbel_scale
    for i in range(b):
        visits, final = reference_search(model, z0[i], cfg, legal[i], gumbel[i])
        np.testing.assert_array_equal(result.visits[i], visits)
        assert result.visits[i].sum() == cfg.simulations
        assert (result.visits[i][~legal[i]] == 0).all()
        if cfg.gumbel:
            assert result.action[i] == final


def test_one_network_call_per_simulation_for_the_whole_batch() -> None:
    model = FixedModel()
    z0 = torch.zeros(64, 6, dtype=torch.float64)
    value, logits = model.heads(z0)
    mcts(model, State(z=z0), value, logits, SearchConfig(simulations=12), np.random.default_rng(0))
    assert model.calls == 12


@pytest.mark.parametrize("m,n", [(16, 50), (4, 4), (2, 100), (8, 13), (1, 7), (16, 2)])
def test_sequential_halving_spends_exactly_its_budget(m: int, n: int) -> None:
    model = FixedModel(actions=16)
    z0 = torch.randn(3, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    value, logits = model.heads(z0)
    cfg = SearchConfig(simulations=n, gumbel=True, max_considered=m)
    result = mcts(model, State(z=z0), value, logits, cfg, np.random.default_rng(0))
    assert (result.visits.sum(axis=1) == n).all()
    # Visits only go to the m sampled actions; the action played is one of the most visited.
    assert ((result.visits > 0).sum(axis=1) <= m).all()
    schedule = considered_visits(m, n)
    assert len(schedule) == n + 1
    counts = Counter(schedule[:n].tolist())
    assert counts[0] == min(m, n)
    for i in range(3):
        assert result.visits[i, result.action[i]] == result.visits[i].max()


def test_gumbel_finds_the_best_action_of_a_bandit_with_few_simulations() -> None:
    """One step of a bandit: action 2 pays 1, the others 0; the prior prefers action 0."""

    class Bandit:
        def step(self, state: State, action: torch.Tensor) -> tuple[State, StepOut]:
            b = len(action)
            out = StepOut(
                reward=(action == 2).double(),
                cont=torch.ones(b, dtype=torch.float64),
                extras={"value": torch.zeros(b), "policy_logits": torch.zeros(b, 4)},
            )
            return state, out

        def initial(self, obs: torch.Tensor) -> State:
            return State(z=obs)

    z0 = torch.zeros(64, 1)
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0]]).repeat(64, 1)
    for scale in (0.0, 1.0):
        cfg = SearchConfig(simulations=4, gumbel=True, max_considered=4, gumbel_scale=scale)
        result = mcts(Bandit(), State(z=z0), torch.zeros(64), logits, cfg, np.random.default_rng(0))
        # The improved policy always prefers the paying action; the sampled action does unless the
        # Gumbel noise outweighs sigma(q) (about 6% of the time at these numbers).
        assert (result.policy.argmax(axis=1) == 2).all()
        assert (result.action == 2).mean() >= (1.0 if scale == 0 else 0.85)


def test_bad_inputs_get_clear_errors() -> None:
    model = FixedModel()
    z0 = torch.zeros(2, 6, dtype=torch.float64)
    value, logits = model.heads(z0)
    with pytest.raises(DreamlabError, match="legal mask"):
        mcts(
            model,
            State(z=z0),
            value,
            logits,
            SearchConfig(),
            np.random.default_rng(0),
            legal=np.ones((2, 3), bool),
        )
    with pytest.raises(DreamlabError, match="at least one legal"):
        mcts(
            model,
            State(z=z0),
            value,
            logits,
            SearchConfig(),
            np.random.default_rng(0),
            legal=np.zeros((2, 4), bool),
        )
    with pytest.raises(DreamlabError, match="at least 1 simulation"):
        SearchConfig(simulations=0)


class TicTacToeModel:
    """The exact game as a model: state = board (X +1, O -1) and the player to move; a winning
    move pays its mover 1; an illegal move inside the tree loses (-1); after the end, nothing."""

    def step(self, state: State, action: torch.Tensor) -> tuple[State, StepOut]:
        from dreamlab.envs.tictactoe import winner

        boards, me, over = state.z.clone(), state.extras["me"], state.extras["over"]
        b = len(action)
        reward = torch.zeros(b, dtype=torch.float64)
        for i in range(b):
            if over[i]:
                continue
            a = int(action[i])
            if boards[i, a] != 0:
                reward[i], over[i] = -1.0, True
                continue
            boards[i, a] = me[i]
            if winner(tuple(int(x) for x in boards[i])) != 0:
                reward[i], over[i] = 1.0, True
            elif (boards[i] != 0).all():
                over[i] = True
        out = StepOut(
            reward=reward,
            cont=torch.ones(b, dtype=torch.float64),
            extras={
                "value": torch.zeros(b, dtype=torch.float64),
                "policy_logits": torch.zeros(b, 9),
            },
        )
        return State(z=boards, extras={"me": -me, "over": over.clone()}), out


@pytest.mark.parametrize("gumbel", [False, True], ids=["puct", "gumbel"])
def test_two_player_search_wins_and_blocks_on_the_exact_game(gumbel: bool) -> None:
    # X to move can win at 2; O to move must block X's row at 2.
    win = [1, 1, 0, -1, -1, 0, 0, 0, 0]
    block = [1, 1, 0, -1, 0, 0, 0, 0, 0]
    boards = torch.tensor([win, block], dtype=torch.float64)
    state = State(
        z=boards, extras={"me": torch.tensor([1.0, -1.0]), "over": torch.tensor([False, False])}
    )
    legal = (boards == 0).numpy()
    cfg = SearchConfig(simulations=200, discount=1.0, two_player=True, gumbel=gumbel,
                       noise_fraction=0.0, gumbel_scale=0.0)  # fmt: skip
    result = mcts(
        TicTacToeModel(), state, torch.zeros(2), torch.zeros(2, 9), cfg, np.random.default_rng(0),
        legal=legal, temperature=0,
    )  # fmt: skip
    assert result.action.tolist() == [2, 2]
    assert result.q[0, 2] == pytest.approx(1.0)  # winning at once is worth 1 to X


def test_most_visited_breaks_ties_by_q() -> None:
    visits = np.array([[2, 2], [3, 1], [0, 4], [2, 2]])
    q = np.array([[0.1, 0.5], [0.1, 0.9], [0.9, 0.1], [0.7, 0.2]])
    assert most_visited(visits, q).tolist() == [1, 0, 1, 0]


def test_tree_scale_makes_the_policy_target_follow_the_size_of_the_q_gap() -> None:
    # Node-wise rescaling maps any gap between two actions to 0 and 1, so every target is
    # one-hot; over the tree's range a small gap gives a soft target and a large one a sharp one.
    model = FixedModel(actions=2, seed=4)
    g = torch.Generator().manual_seed(2)
    z0 = torch.tanh(torch.randn(8, 6, generator=g, dtype=torch.float64))
    value, _ = model.heads(z0)
    flat = torch.zeros(8, 2, dtype=torch.float64)
    sharpest = {}
    for tree_scale in (0.0, 0.3, 1.0):
        cfg = SearchConfig(simulations=8, gumbel=True, gumbel_scale=0.0, tree_scale=tree_scale)
        result = mcts(model, State(z=z0), value, flat, cfg, np.random.default_rng(0))
        sharpest[tree_scale] = result.policy.max(axis=1)
        gap = np.abs(result.q[:, 0] - result.q[:, 1])
    assert (sharpest[0.0] > 0.99).all()
    assert (sharpest[1.0] < sharpest[0.0]).all()
    assert sharpest[1.0].argmin() == gap.argmin() and sharpest[1.0].argmax() == gap.argmax()
    # a share of the tree's range in between: as sharp as the node-wise target or softer,
    # and never softer than over the whole range
    assert (sharpest[0.3] <= sharpest[0.0] + 1e-12).all()
    assert (sharpest[0.3] >= sharpest[1.0] - 1e-12).all()
    assert (sharpest[0.3] < sharpest[0.0] - 1e-3).any() and (sharpest[0.3] > 0.99).any()
    with pytest.raises(DreamlabError, match="tree_scale"):
        SearchConfig(gumbel=True, tree_scale=1.5)
