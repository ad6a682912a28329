"""DreamerV3's math: symlog, two-hot heads, KL balancing with free bits, lambda-returns,
return normalisation, unimix, LaProp and adaptive gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dreamlab.algos.dreamer.math import (
    LaProp,
    ReturnNormalizer,
    agc_,
    dyn_rep_losses,
    kl_categorical,
    lambda_returns,
    symexp,
    symlog,
    twohot_bins,
    twohot_decode,
    twohot_encode,
    twohot_loss,
    unimix_logits,
)

F64 = torch.float64


# --- symlog ---------------------------------------------------------------------------------


def test_symlog_and_symexp_round_trip() -> None:
    x = torch.cat(
        [
            torch.linspace(-1e6, 1e6, 2001, dtype=F64),
            torch.tensor([0.0, 1.0, -1.0, 1e-8, -1e-8, 1e6, -1e6], dtype=F64),
        ]
    )
    torch.testing.assert_close(symexp(symlog(x)), x, rtol=1e-12, atol=1e-12)
    # Hand values: symlog(e - 1) = 1, symlog(-(e^2 - 1)) = -2, symlog(0) = 0.
    torch.testing.assert_close(
        symlog(torch.tensor([math.e - 1, -(math.e**2 - 1), 0.0], dtype=F64)),
        torch.tensor([1.0, -2.0, 0.0], dtype=F64),
    )


# --- two-hot --------------------------------------------------------------------------------


def test_bins_are_a_uniform_grid_in_symlog_space() -> None:
    bins = twohot_bins(255, dtype=F64)
    assert bins.shape == (255,)
    assert bins[0].item() == -20.0 and bins[-1].item() == 20.0
    assert abs(bins[127].item()) < 1e-12
    torch.testing.assert_close(bins.diff(), torch.full((254,), 40 / 254, dtype=F64))
    # Zero logits (a zero-initialised head) decode to 0.
    assert abs(twohot_decode(torch.zeros(255), twohot_bins()).item()) < 1e-5


def test_twohot_of_a_value_on_a_bin_is_one_hot() -> None:
    bins = twohot_bins(255, dtype=F64)
    index = torch.tensor([0, 3, 127, 200, 253, 254])
    target = twohot_encode(bins[index], bins)
    assert torch.equal(target, torch.nn.functional.one_hot(index, 255).to(F64))


def test_twohot_between_bins_uses_the_two_neighbours_and_is_exact() -> None:
    bins = twohot_bins(255, dtype=F64)
    y = bins[10] + 0.25 * (bins[11] - bins[10])
    target = twohot_encode(y, bins)
    torch.testing.assert_close(target[10], torch.tensor(0.75, dtype=F64))
    torch.testing.assert_close(target[11], torch.tensor(0.25, dtype=F64))
    assert (target > 0).sum().item() == 2

    ys = torch.empty(2, 500, dtype=F64).uniform_(
        -19.99, 19.99, generator=torch.Generator().manual_seed(0)
    )
    targets = twohot_encode(ys, bins)
    assert targets.shape == (2, 500, 255)
    torch.testing.assert_close(targets.sum(-1), torch.ones_like(ys))
    torch.testing.assert_close(targets @ bins, ys, rtol=0, atol=1e-12)
    assert ((targets > 0).sum(-1) <= 2).all()
    # The non-zero weights sit on the bins just below and just above y.
    lower = (targets > 0).to(torch.int64).argmax(-1)  # first non-zero bin
    assert (bins[lower] <= ys).all() and (ys <= bins[(lower + 1).clamp(max=254)]).all()
    upper_mass = targets.gather(-1, (lower + 1).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(
        targets.gather(-1, lower.unsqueeze(-1)).squeeze(-1) + upper_mass, torch.ones_like(ys)
    )


def test_twohot_clips_to_the_range() -> None:
    bins = twohot_bins(255, dtype=F64)
    target = twohot_encode(torch.tensor([-25.0, 1e3, 20.0, -20.0], dtype=F64), bins)
    assert torch.equal(
        target, torch.nn.functional.one_hot(torch.tensor([0, 254, 254, 0]), 255).to(F64)
    )


def test_decoding_the_log_of_a_twohot_recovers_the_value() -> None:
    bins = twohot_bins(255, dtype=F64)
    y = torch.tensor([-1e6, -3.5, 0.0, 0.7, 42.0, 1e8], dtype=F64)
    logits = torch.log(twohot_encode(symlog(y), bins))  # -inf off the two bins: softmax gives 0
    torch.testing.assert_close(twohot_decode(logits, bins), y, rtol=1e-9, atol=1e-9)


def test_twohot_loss_is_minimal_at_the_targets_own_twohot() -> None:
    bins = twohot_bins(255, dtype=F64)
    y = torch.tensor([3.0, -100.0, 0.0], dtype=F64)
    target = twohot_encode(symlog(y), bins)
    best = torch.log(target + 1e-300).requires_grad_()
    loss = twohot_loss(best, y, bins)
    entropy = -(target * torch.log(target + 1e-300)).sum(-1)
    torch.testing.assert_close(loss.detach(), entropy)  # CE(p, p) = H(p), its minimum
    loss.sum().backward()
    assert best.grad is not None
    torch.testing.assert_close(best.grad, torch.zeros_like(best.grad), atol=1e-12, rtol=0)
    # Any other prediction, here the target mixed with a random distribution, costs more:
    # CE(p, q) = H(p) + KL(p || q).
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        noise = torch.randn(target.shape, dtype=F64, generator=gen).softmax(-1)
        other = torch.log(0.9 * target + 0.1 * noise)
        assert (twohot_loss(other, y, bins) > loss.detach() + 1e-3).all()


# --- latents: unimix and KL -----------------------------------------------------------------


def test_unimix_keeps_a_floor_under_every_probability() -> None:
    logits = torch.tensor([[100.0, -100.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]], dtype=F64)
    probs = unimix_logits(logits, 0.01).exp()
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, dtype=F64))
    assert (probs >= 0.01 / 4 - 1e-15).all()
    torch.testing.assert_close(probs, 0.99 * logits.softmax(-1) + 0.01 / 4)
    torch.testing.assert_close(unimix_logits(logits, 0.0), logits.log_softmax(-1))


def test_kl_sums_over_classes_and_groups() -> None:
    # One group: KL([.5, .5] || [.9, .1]) = .5 ln(.5/.9) + .5 ln(.5/.1) = ln(5/3).
    post = torch.log(torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=F64))
    prior = torch.log(torch.tensor([[0.9, 0.1], [0.9, 0.1]], dtype=F64))
    torch.testing.assert_close(
        kl_categorical(post[:1], prior[:1]), torch.tensor(math.log(5 / 3), dtype=F64)
    )
    torch.testing.assert_close(
        kl_categorical(post, prior), torch.tensor(2 * math.log(5 / 3), dtype=F64)
    )
    # Against torch.distributions on a batch [B, G, K] -> [B].
    gen = torch.Generator().manual_seed(2)
    q, p = torch.randn(2, 3, 5, 4, dtype=F64, generator=gen).unbind(0)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=q), torch.distributions.Categorical(logits=p)
    ).sum(-1)
    torch.testing.assert_close(kl_categorical(q, p), reference)


def test_free_bits_below_the_threshold_give_the_constant_and_no_gradient() -> None:
    gen = torch.Generator().manual_seed(3)
    prior = torch.randn(4, 3, 5, dtype=F64, generator=gen).requires_grad_()
    post = (prior.detach() + 0.01 * torch.randn(4, 3, 5, dtype=F64, generator=gen)).requires_grad_()
    assert (kl_categorical(post, prior) < 1.0).all()
    dyn, rep = dyn_rep_losses(post, prior, free=1.0)
    assert torch.equal(dyn, torch.ones(4, dtype=F64)) and torch.equal(rep, torch.ones(4, dtype=F64))
    (dyn.sum() + rep.sum()).backward()
    for grad in (post.grad, prior.grad):
        assert grad is None or torch.count_nonzero(grad).item() == 0


def test_above_free_bits_the_losses_are_the_kl() -> None:
    # Two groups of KL ln(5/3) each: 1.02 nats, above free = 1.
    post = torch.log(torch.tensor([[[0.5, 0.5], [0.5, 0.5]]], dtype=F64))
    prior = torch.log(torch.tensor([[[0.9, 0.1], [0.9, 0.1]]], dtype=F64))
    dyn, rep = dyn_rep_losses(post, prior, free=1.0)
    expected = torch.tensor([2 * math.log(5 / 3)], dtype=F64)
    torch.testing.assert_close(dyn, expected)
    torch.testing.assert_close(rep, expected)


def test_kl_balancing_sends_each_loss_to_one_side_only() -> None:
    gen = torch.Generator().manual_seed(4)
    post = (3 * torch.randn(2, 3, 4, dtype=F64, generator=gen)).requires_grad_()
    prior = (3 * torch.randn(2, 3, 4, dtype=F64, generator=gen)).requires_grad_()
    dyn, rep = dyn_rep_losses(post, prior, free=1.0)
    assert (dyn > 1.0).all() and (rep > 1.0).all()

    dyn.sum().backward(retain_graph=True)
    assert post.grad is None or torch.count_nonzero(post.grad).item() == 0
    assert prior.grad is not None and torch.count_nonzero(prior.grad).item() > 0

    post.grad, prior.grad = None, None
    rep.sum().backward()
    assert prior.grad is None or torch.count_nonzero(prior.grad).item() == 0
    assert post.grad is not None and torch.count_nonzero(post.grad).item() > 0


# --- returns --------------------------------------------------------------------------------


def test_lambda_returns_by_hand() -> None:
    # H = 3, lambda = 0.5; index 0 of reward and cont is never used (99 proves it), nor is v_0.
    #   R_3 = v_3                                       = 8
    #   R_2 = r_3 + c_3 (0.5 v_3 + 0.5 R_3) = 3 + 0.5 (4 + 4)     = 7
    #   R_1 = r_2 + c_2 (0.5 v_2 + 0.5 R_2) = 2 + 0.5 (1 + 3.5)   = 4.25
    #   R_0 = r_1 + c_1 (0.5 v_1 + 0.5 R_1) = 1 + 1.0 (2 + 2.125) = 5.125
    reward = torch.tensor([[99.0, 1.0, 2.0, 3.0]])
    cont = torch.tensor([[99.0, 1.0, 0.5, 0.5]])
    value = torch.tensor([[99.0, 4.0, 2.0, 8.0]])
    returns = lambda_returns(reward, cont, value, lam=0.5)
    assert returns.shape == (1, 3)
    torch.testing.assert_close(returns, torch.tensor([[5.125, 4.25, 7.0]]))


def _random_trajectory(batch: int = 2, horizon: int = 5) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(5)
    reward = torch.randn(batch, horizon + 1, dtype=F64, generator=gen)
    cont = 0.99 * (torch.rand(batch, horizon + 1, dtype=F64, generator=gen) > 0.2)
    value = torch.randn(batch, horizon + 1, dtype=F64, generator=gen)
    return reward, cont, value


def test_lambda_zero_gives_one_step_td_targets() -> None:
    reward, cont, value = _random_trajectory()
    expected = reward[:, 1:] + cont[:, 1:] * value[:, 1:]
    torch.testing.assert_close(lambda_returns(reward, cont, value, lam=0.0), expected)


def test_lambda_one_gives_the_discounted_return_bootstrapped_at_the_end() -> None:
    reward, cont, value = _random_trajectory()
    assert (cont[:, 1:] == 0).any()  # an episode end cuts the sum and the bootstrap
    batch, horizon = reward.shape[0], reward.shape[1] - 1
    expected = torch.zeros(batch, horizon, dtype=F64)
    for b in range(batch):
        for t in range(horizon):
            total, discount = 0.0, 1.0
            for k in range(t + 1, horizon + 1):
                total += discount * reward[b, k].item()
                discount *= cont[b, k].item()
            expected[b, t] = total + discount * value[b, horizon].item()
    torch.testing.assert_close(lambda_returns(reward, cont, value, lam=1.0), expected)


def test_return_normalizer_matches_numpy_percentiles() -> None:
    returns = torch.tensor([3.0, -7.5, 12.0, 0.25, 40.0, 8.0, -1.0, 5.5, 19.0, 2.0], dtype=F64)
    norm = ReturnNormalizer(rate=0.01)
    assert norm.scale == 1.0
    norm.update(returns.reshape(2, 5))
    p5, p95 = np.percentile(returns.numpy(), [5, 95])
    assert norm.low == pytest.approx(p5) and norm.high == pytest.approx(p95)
    assert norm.scale == pytest.approx(max(1.0, p95 - p5))

    small = ReturnNormalizer()
    small.update(torch.tensor([0.1, 0.3, 0.2, 0.6]))
    assert small.scale == 1.0


def test_return_normalizer_moves_its_ema_by_the_rate() -> None:
    # linspace(0, 100, 101) has P5 = 5, P95 = 95; linspace(0, 200, 101) has P5 = 10, P95 = 190.
    # low:  5 -> 5 + 0.01 (10 - 5)     = 5.05    -> 5.05 + 0.01 (10 - 5.05)   = 5.0995
    # high: 95 -> 95 + 0.01 (190 - 95) = 95.95   -> 95.95 + 0.01 (190 - 95.95) = 96.8905
    norm = ReturnNormalizer(rate=0.01)
    norm.update(torch.linspace(0, 100, 101, dtype=F64))
    assert (norm.low, norm.high) == (pytest.approx(5.0), pytest.approx(95.0))
    norm.update(torch.linspace(0, 200, 101, dtype=F64))
    assert (norm.low, norm.high) == (pytest.approx(5.05), pytest.approx(95.95))
    norm.update(torch.linspace(0, 200, 101, dtype=F64))
    assert (norm.low, norm.high) == (pytest.approx(5.0995), pytest.approx(96.8905))
    assert norm.scale == pytest.approx(96.8905 - 5.0995)

    restored = ReturnNormalizer(rate=0.01)
    restored.load(norm.state())
    assert restored.scale == norm.scale


# --- optimisation ---------------------------------------------------------------------------


def test_laprop_first_and_second_steps_by_hand() -> None:
    w = torch.tensor([1.0, -2.0, 3.0, 0.0], dtype=F64, requires_grad=True)
    opt = LaProp([w], lr=0.1, betas=(0.9, 0.999), eps=1e-20)

    def quadratic_step() -> None:
        opt.zero_grad()
        (0.5 * w.pow(2).sum()).backward()  # gradient g = w
        opt.step()

    # Step 1 from zero state: v = 0.001 g^2, corrected v = g^2, m = 0.1 g / |g|, corrected
    # m = sign(g): w -= 0.1 sign(w). A zero gradient stays a zero step, not 0 / 0.
    g1 = w.detach().clone()
    quadratic_step()
    torch.testing.assert_close(w.detach(), torch.tensor([0.9, -1.9, 2.9, 0.0], dtype=F64))

    # Step 2, the formula written out per coordinate.
    g2 = w.detach().clone()
    expected = []
    for a, b in zip(g1.tolist(), g2.tolist(), strict=True):
        v = 0.999 * 0.001 * a * a + 0.001 * b * b
        scale = math.sqrt(v / (1 - 0.999**2)) + 1e-20
        m1 = 0.1 * a / (math.sqrt(a * a) + 1e-20)
        m2 = 0.9 * m1 + 0.1 * b / scale
        expected.append(b - 0.1 * m2 / (1 - 0.9**2))  # w_1 = g_2
    quadratic_step()
    torch.testing.assert_close(w.detach(), torch.tensor(expected, dtype=F64))


def test_laprop_minimises_a_quadratic_and_ignores_the_gradient_scale() -> None:
    curvature = torch.tensor([1.0, 100.0], dtype=F64)

    def run(loss_scale: float) -> list[float]:
        w = torch.tensor([1.0, 1.0], dtype=F64, requires_grad=True)
        opt = LaProp([w], lr=0.02)
        losses = []
        for _ in range(150):
            opt.zero_grad()
            loss = (curvature * w.pow(2)).sum()
            losses.append(loss.item())
            (loss_scale * loss).backward()
            opt.step()
        return losses

    losses = run(1.0)
    assert losses[-1] < 1e-2 * losses[0]
    assert sum(losses[-10:]) < sum(losses[:10])
    # The gradient is divided by its own RMS before momentum: scaling the loss changes nothing.
    np.testing.assert_allclose(run(1000.0), losses, rtol=1e-9)


def test_agc_scales_a_large_gradient_to_the_bound_and_leaves_a_small_one() -> None:
    big = torch.nn.Parameter(torch.tensor([3.0, 4.0], dtype=F64))  # |w| = 5: bound 0.3 * 5 = 1.5
    big.grad = torch.tensor([6.0, 8.0], dtype=F64)  # |g| = 10 -> scaled by 0.15
    small = torch.nn.Parameter(torch.tensor([3.0, 4.0], dtype=F64))
    small.grad = torch.tensor([0.3, 0.4], dtype=F64)  # |g| = 0.5 < 1.5
    zero = torch.nn.Parameter(torch.zeros(3, dtype=F64))  # |w| = 0: bound 0.3 * 1e-3
    zero.grad = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    untouched = torch.nn.Parameter(torch.ones(2, dtype=F64))  # no gradient: skipped

    agc_([big, small, zero, untouched], clip=0.3, eps=1e-3)
    torch.testing.assert_close(big.grad, torch.tensor([0.9, 1.2], dtype=F64))
    torch.testing.assert_close(torch.linalg.vector_norm(big.grad), torch.tensor(1.5, dtype=F64))
    assert torch.equal(small.grad, torch.tensor([0.3, 0.4], dtype=F64))
    torch.testing.assert_close(zero.grad, torch.tensor([3e-4, 0.0, 0.0], dtype=F64))
    assert untouched.grad is None


def test_fast_softmax_and_log_softmax_match_torch_with_gradients() -> None:
    from dreamlab.algos.dreamer.math import log_softmax, softmax

    for k in (4, 255):
        x = (torch.randn(64, 8, k, dtype=torch.float64) * 5).requires_grad_()
        w = torch.randn(64, 8, k, dtype=torch.float64)
        for mine, ref in ((softmax, torch.softmax), (log_softmax, torch.log_softmax)):
            a = mine(x)
            (ga,) = torch.autograd.grad((a * w).sum(), x)
            b = ref(x, -1)
            (gb,) = torch.autograd.grad((b * w).sum(), x)
            torch.testing.assert_close(a, b)
            torch.testing.assert_close(ga, gb)


def test_sample_categorical_draws_each_class_at_its_probability() -> None:
    from dreamlab.algos.dreamer.math import sample_categorical

    probs = torch.tensor([0.1, 0.0, 0.6, 0.3]).expand(200_000, 4)
    idx = sample_categorical(probs, torch.Generator().manual_seed(0))
    freq = torch.bincount(idx, minlength=4).float() / idx.numel()
    assert freq[1] == 0  # a zero-probability class is never drawn
    torch.testing.assert_close(freq, probs[0], atol=4e-3, rtol=0)
