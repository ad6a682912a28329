"""World Models (Ha & Schmidhuber): the paper's sizes, M's likelihood, and the dream's temperature."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from dreamlab.algos.ha_world_models import (
    MDNRNN,
    PRESETS,
    Controller,
    ConvVAE,
    HaWorldModel,
    MDNOutput,
    mdn_nll,
    sample_mdn,
    vae_loss,
)
from dreamlab.algos.ha_world_models.dream import (
    DreamScenarios,
    controller_act,
    dream_returns,
    num_params,
)
from dreamlab.algos.ha_world_models.model import sample_mdn_from
from dreamlab.rollout import rollout


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_preset_has_the_published_parameter_counts() -> None:
    cfg = PRESETS["carracing"]
    assert count(ConvVAE(cfg.z_size)) == 4_348_547
    assert count(MDNRNN(cfg)) == 422_368
    assert count(Controller(cfg)) == 867


def test_doom_preset_matches_the_published_v_and_m() -> None:
    cfg = PRESETS["doom"]
    assert count(ConvVAE(cfg.z_size)) == 4_446_915
    assert count(MDNRNN(cfg)) == 1_678_785
    assert count(Controller(cfg)) == 1_088 + 1  # the paper's 1,088 weights on [z, c, h] plus a bias


def test_vae_shapes_and_the_kl_floor() -> None:
    vae = ConvVAE(8)
    x = torch.rand(2, 3, 64, 64)
    recon, mu, logvar = vae(x, generator=torch.Generator().manual_seed(0))
    assert recon.shape == x.shape and mu.shape == logvar.shape == (2, 8)
    # A posterior equal to the prior has KL 0, which the floor lifts to kl_tolerance * z_size.
    _, kl = vae_loss(x, recon, torch.zeros(2, 8), torch.zeros(2, 8), kl_tolerance=0.5)
    assert kl.item() == pytest.approx(4.0)
    rec, kl = vae_loss(x, x, torch.full((2, 8), 3.0), torch.zeros(2, 8), kl_tolerance=0.5)
    assert rec.item() == 0.0 and kl.item() == pytest.approx(8 * 0.5 * 9.0)


def test_mdn_log_likelihood_matches_a_hand_computed_value() -> None:
    # One dimension, two components: pi = (0.25, 0.75), mu = (0, 2), sigma = (1, 0.5), z = 1.
    out = MDNOutput(
        log_pi=torch.log(torch.tensor([[[[0.25, 0.75]]]])),
        mu=torch.tensor([[[[0.0, 2.0]]]]),
        log_sigma=torch.log(torch.tensor([[[[1.0, 0.5]]]])),
        done_logit=None,
    )
    density = 0.25 * math.exp(-0.5) / math.sqrt(2 * math.pi) + 0.75 * math.exp(-2.0) / (
        0.5 * math.sqrt(2 * math.pi)
    )
    assert mdn_nll(out, torch.tensor([[[1.0]]])).item() == pytest.approx(
        -math.log(density), rel=1e-6
    )


def test_temperature_sharpens_the_mixture_and_scales_the_noise() -> None:
    n = 20_000
    out = MDNOutput(
        log_pi=torch.log(torch.tensor([0.3, 0.7])).expand(n, 1, 1, 2),
        mu=torch.tensor([-5.0, 5.0]).expand(n, 1, 1, 2),
        log_sigma=torch.zeros(n, 1, 1, 2),
        done_logit=None,
    )
    g = torch.Generator().manual_seed(0)
    z1 = sample_mdn(out, 1.0, g).flatten()
    z_low = sample_mdn(out, 0.1, g).flatten()
    # tau = 1: components in proportion 0.3 / 0.7, unit noise around each mean.
    assert (z1 > 0).float().mean().item() == pytest.approx(0.7, abs=0.02)
    assert z1[z1 > 0].std().item() == pytest.approx(1.0, abs=0.05)
    # tau = 0.1: softmax(log pi / 0.1) puts ~1 - 2e-4 on the likely component; noise std sqrt(0.1).
    assert (z_low > 0).float().mean().item() > 0.999
    assert z_low[z_low > 0].std().item() == pytest.approx(math.sqrt(0.1), abs=0.02)
    with pytest.raises(ValueError):
        sample_mdn(out, 0.0)


def test_v_and_m_dream_through_the_world_model_contract() -> None:
    cfg = PRESETS["small"]
    torch.manual_seed(0)
    model = HaWorldModel(ConvVAE(cfg.z_size), MDNRNN(cfg), temperature=1.15)
    frames = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        state = model.initial(frames)
        traj = rollout(model, state, torch.zeros(3, 5, cfg.action_dim))
        pictures = model.decode(traj.states.map(lambda t: t[:, -1]))
    assert traj.states.z.shape == (3, 6, cfg.z_size) and traj.states.h is not None
    assert traj.reward.shape == (3, 5) and ((traj.cont > 0) & (traj.cont < 1)).all()
    assert pictures.shape == (3, 3, 64, 64)
    controller = Controller(cfg)
    flat = controller.get_flat() + 1.0
    controller.set_flat(flat)
    assert torch.equal(controller.get_flat(), flat)
    assert controller(state.z, state.h).abs().max() <= 1.0


def test_inverse_cdf_sampling_picks_the_component_the_uniform_points_at() -> None:
    # Two components with weights 0.25 / 0.75 at mu 0 and 10, tiny sigma: u < 0.25 -> first one.
    log_pi = torch.log(torch.tensor([0.25, 0.75])).expand(1, 1, 4, 2)
    mu = torch.tensor([0.0, 10.0]).expand(1, 1, 4, 2)
    out = MDNOutput(
        log_pi=log_pi, mu=mu, log_sigma=torch.full((1, 1, 4, 2), -20.0), done_logit=None
    )
    u = torch.tensor([0.0, 0.2499, 0.2501, 0.9999]).reshape(1, 1, 4)
    z = sample_mdn_from(out, 1.0, u, torch.zeros(1, 1, 4))
    assert z.flatten().tolist() == pytest.approx([0.0, 0.0, 10.0, 10.0])
    # tau 0.5 squares and renormalises the weights: 1/10 and 9/10, so u = 0.2 now picks mu = 10.
    z = sample_mdn_from(out, 0.5, torch.full((1, 1, 4), 0.2), torch.zeros(1, 1, 4))
    assert z.flatten().tolist() == pytest.approx([10.0] * 4)


@pytest.mark.parametrize("hidden", [0, 5])
def test_population_controllers_act_like_the_controller_module(hidden: int) -> None:
    cfg = replace(PRESETS["small"], controller_hidden=hidden, controller_reads_cell=True)
    torch.manual_seed(1)
    modules = [Controller(cfg) for _ in range(3)]
    for m in modules:
        m.set_flat(torch.randn_like(m.get_flat()))
    params = torch.stack([m.get_flat() for m in modules])  # [P, n]
    assert params.shape[1] == num_params(cfg)
    z, h, c = torch.randn(3, 4, cfg.z_size), torch.randn(3, 4, 64), torch.randn(3, 4, 64)
    batched = controller_act(params, torch.cat([z, c, h], dim=-1), cfg)
    for p, m in enumerate(modules):
        assert torch.allclose(batched[p], m(z[p], h[p], c[p]), atol=1e-6)


def test_a_candidate_dreams_the_same_scores_in_any_block() -> None:
    cfg = PRESETS["small"]
    torch.manual_seed(2)
    rnn = MDNRNN(cfg).eval()
    with torch.no_grad():
        # A done logit that wanders around 0, so dreams end after a few to a few hundred frames.
        rnn.head.bias[-1] = -0.6
        rnn.head.weight[-1] *= 8
    params = torch.randn(6, num_params(cfg))
    scen = DreamScenarios(torch.randn(5, cfg.z_size), seed=7)
    whole = dream_returns(rnn, params, scen, cfg, 1.15, 200)
    parts = np.concatenate(
        [dream_returns(rnn, params[i : i + 2], scen, cfg, 1.15, 200) for i in (0, 2, 4)]
    )
    assert whole.shape == (6, 5) and 1 < whole.mean() < 200 and whole.std() > 0
    np.testing.assert_allclose(parts, whole)
    # The same scenario seed replays the same dream; another seed does not.
    assert np.array_equal(dream_returns(rnn, params, scen, cfg, 1.15, 200), whole)
    other = DreamScenarios(scen.z0, seed=8)
    assert not np.array_equal(dream_returns(rnn, params, other, cfg, 1.15, 200), whole)
