"""MuZero's value transform and two-hot encoding."""

from __future__ import annotations

import torch

from dreamlab.nn.twohot import from_logits, support, to_two_hot, value_inverse, value_transform


def test_value_transform_and_its_inverse_round_trip() -> None:
    x = torch.cat([torch.linspace(-1e4, 1e4, 2001, dtype=torch.float64), torch.tensor([0.0, 1e-6])])
    torch.testing.assert_close(value_inverse(value_transform(x)), x, rtol=1e-9, atol=1e-7)
    # Hand values: h(3) = sqrt(4) - 1 + 0.003 = 1.003, h(-8) = -(3 - 1) - 0.008.
    torch.testing.assert_close(
        value_transform(torch.tensor([3.0, -8.0, 0.0], dtype=torch.float64)),
        torch.tensor([1.003, -2.008, 0.0], dtype=torch.float64),
    )


def test_two_hot_is_exact() -> None:
    size = 10
    y = torch.tensor([-10.0, -3.25, 0.0, 0.5, 2.0, 9.9, 10.0, 42.0, -42.0], dtype=torch.float64)
    t = to_two_hot(y, size)
    assert t.shape == (9, 2 * size + 1)
    torch.testing.assert_close(t.sum(-1), torch.ones(9, dtype=torch.float64))
    expected = (t * support(size, torch.float64)).sum(-1)
    torch.testing.assert_close(expected, y.clamp(-size, size))
    assert ((t > 0).sum(-1) <= 2).all()
    # -3.25 puts 0.25 on -4 and 0.75 on -3.
    assert t[1, -4 + size].item() == 0.25 and t[1, -3 + size].item() == 0.75
    assert t[4, 2 + size].item() == 1.0


def test_logits_of_a_two_hot_target_decode_to_its_scalar() -> None:
    x = torch.tensor([-37.0, 0.0, 4.2, 150.0], dtype=torch.float64)
    target = to_two_hot(value_transform(x), 300)
    torch.testing.assert_close(from_logits(torch.log(target + 1e-30)), x, rtol=1e-6, atol=1e-6)


def test_an_untransformed_support_holds_outcomes_as_one_hot_classes() -> None:
    # A board game's win, draw and loss on the support -1..1: one bin each, decoded back exactly.
    outcomes = torch.tensor([-1.0, 0.0, 1.0])
    targets = to_two_hot(outcomes, 1)
    assert torch.equal(targets, torch.eye(3))
    decoded = from_logits(torch.log(targets.clamp_min(1e-12)), transformed=False)
    assert torch.allclose(decoded, outcomes, atol=1e-6)
    # Through h(x) the same outcomes only move 0.415 of the mass off the draw bin.
    assert targets[2].max() > to_two_hot(value_transform(outcomes), 1)[2].max() + 0.4
