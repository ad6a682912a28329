"""The action-conditioned JEPA world model: its loss terms, frames, the WorldModel contract, a
planning cost made of embeddings only, a short run that checkpoints and resumes, and a planning
episode."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamlab.algos.jepa_wm.config import PRESETS, JEPAWMConfig
from dreamlab.algos.jepa_wm.model import (
    JEPAWorldModel,
    covariance_loss,
    idm_loss,
    multi_step_predictions,
    prediction_loss,
    prepare_frames,
    time_similarity_loss,
    variance_loss,
)
from dreamlab.algos.jepa_wm.train import (
    build_model,
    cosine_lr,
    embedding_objective,
    evaluate,
    jepa_losses,
    make_dataset,
    make_planner,
    plan_episodes,
    random_wall_for,
    train,
)
from dreamlab.cli import get_system
from dreamlab.envs.two_rooms import TwoRoomsEnv, WallSpec, render_two_rooms
from dreamlab.errors import DreamlabError
from dreamlab.planners import ActionSpec, MPCAgent, shift_plan
from dreamlab.planners import evaluate as evaluate_candidates
from dreamlab.protocols import WorldModel
from dreamlab.rollout import rollout
from dreamlab.train import config_to_dict, create_run, list_checkpoints, read_metrics
from dreamlab.train.checkpoint import load_checkpoint

DEBUG = PRESETS["debug"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(cfg: JEPAWMConfig = DEBUG, seed: int = 0) -> JEPAWorldModel:
    torch.manual_seed(seed)
    model = build_model(cfg)
    assert isinstance(model, JEPAWorldModel)
    return model


# ----------------------------------------------------------------------------- loss terms


def test_variance_loss_is_zero_above_unit_std_and_large_when_collapsed() -> None:
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(512, 16, generator=g) * 3.0 + 5.0  # std ~3 in every dimension
    assert variance_loss(spread) == 0
    collapsed = torch.full((512, 16), 2.5) + 1e-4 * torch.randn(512, 16, generator=g)
    assert variance_loss(collapsed) > 0.95
    # Half the dimensions collapsed: half the penalty.
    half = torch.cat([spread[:, :8], collapsed[:, 8:]], dim=1)
    assert variance_loss(half) == pytest.approx(0.5 * float(variance_loss(collapsed)), rel=1e-3)
    # Leading dims are separate statistics: [T, N, D] averages the per-step hinges.
    stacked = torch.stack([spread, collapsed])  # [2, N, D]
    assert variance_loss(stacked) == pytest.approx(float(variance_loss(collapsed)) / 2, rel=1e-3)


def test_covariance_loss_is_zero_for_decorrelated_and_positive_for_correlated_features() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g, dtype=torch.float64)
    x = x - x.mean(dim=0)
    q, _ = torch.linalg.qr(x)  # orthonormal, zero-mean columns: exactly decorrelated
    decorrelated = q * torch.arange(1, 9, dtype=torch.float64) * 10  # any per-dim scale
    assert covariance_loss(decorrelated) < 1e-20
    correlated = decorrelated.clone()
    correlated[:, 1] = correlated[:, 0]
    assert covariance_loss(correlated) > 1e-3
    # The diagonal (variance) is not penalised: scaling one dimension changes nothing.
    scaled = decorrelated.clone()
    scaled[:, 3] *= 100
    assert covariance_loss(scaled) < 1e-20


def test_prediction_rolls_out_from_every_frame_with_the_right_actions() -> None:
    g = torch.Generator().manual_seed(0)
    actions = torch.randn(3, 7, 2, generator=g)  # [B, T - 1, A]
    # Embeddings that a "move by the action" predictor reproduces exactly: e_t = sum_{j<t} a_j.
    e = torch.cat([torch.zeros(3, 1, 2), actions.cumsum(dim=1)], dim=1)  # [B, T, D = 2]
    preds = multi_step_predictions(lambda z, a: z + a, e, actions, steps=5)
    assert [tuple(p.shape) for p in preds] == [(3, 8 - k, 2) for k in range(1, 6)]
    assert prediction_loss(preds, e) < 1e-10
    # The same rollout with the actions shifted by one step is wrong.
    shifted = torch.roll(actions, 1, dims=1)
    assert prediction_loss(multi_step_predictions(lambda z, a: z + a, e, shifted, 5), e) > 0.1
    # More steps than the trajectory allows are capped at T - 1.
    assert len(multi_step_predictions(lambda z, a: z + a, e, actions, steps=50)) == 7
    assert time_similarity_loss(e) == pytest.approx(float(actions.square().mean()), rel=1e-5)
    assert idm_loss(actions, actions) == 0


@pytest.mark.parametrize("use_idm", [True, False])
def test_the_idm_head_gets_gradient_only_when_switched_on(use_idm: bool) -> None:
    cfg = dataclasses.replace(DEBUG, use_idm=use_idm)
    model = _model(cfg)
    data = make_dataset(dataclasses.replace(cfg, trajectories=8), random_wall=True)
    loss, terms, e = jepa_losses(
        model, torch.from_numpy(data.obs), torch.from_numpy(data.actions), cfg
    )
    loss.backward()
    assert e.shape == (8, cfg.trajectory_length, cfg.embed_dim)
    idm_grads = [p.grad for p in model.idm.parameters()]
    if use_idm:
        assert all(g is not None for g in idm_grads)
        assert sum(float(g.abs().sum()) for g in idm_grads if g is not None) > 0
        assert terms["idm"] > 0
    else:
        assert all(g is None for g in idm_grads)
        assert terms["idm"] == 0
    # The encoder and the predictor learn either way.
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.predictor.parameters())


def test_switching_off_variance_and_covariance_removes_them_from_the_loss() -> None:
    data = make_dataset(dataclasses.replace(DEBUG, trajectories=8), random_wall=True)
    obs, actions = torch.from_numpy(data.obs), torch.from_numpy(data.actions)
    on = dataclasses.replace(DEBUG, use_idm=False)
    off = dataclasses.replace(on, use_varcov=False)
    loss_on, terms_on, _ = jepa_losses(_model(on), obs, actions, on)
    loss_off, terms_off, _ = jepa_losses(_model(off), obs, actions, off)
    # The same weights (same seed): the terms agree, the totals differ by exactly 16 var + 8 cov.
    for key in ("pred", "var", "cov", "time"):
        assert terms_on[key].item() == pytest.approx(terms_off[key].item(), rel=1e-5)
    expected = on.var_weight * terms_on["var"] + on.cov_weight * terms_on["cov"]
    assert (loss_on - loss_off).item() == pytest.approx(expected.item(), rel=1e-4)
    assert not terms_off["var"].requires_grad and terms_on["var"].requires_grad


# ----------------------------------------------------------------------------- frames and contract


def test_frames_are_cropped_and_pooled_the_same_way_for_env_and_data() -> None:
    pos = torch.tensor([[10.3, 47.9], [50.0, 20.5]])
    walls = WallSpec.fixed(2)
    twoch = render_two_rooms(pos, walls, "2ch")  # [2, 2, 65, 65]
    rgb = render_two_rooms(pos, walls, "rgb")  # [2, 65, 65, 3]
    # The dropped last row and column are solid border in every frame.
    assert bool((twoch[:, 1, -1, :] == 255).all() and (twoch[:, 1, :, -1] == 255).all())
    small = prepare_frames(twoch, "2ch", 32)
    assert small.shape == (2, 2, 32, 32) and small.dtype == torch.uint8
    manual = twoch[..., :64, :64].float().reshape(2, 2, 32, 2, 32, 2).mean(dim=(3, 5))
    assert torch.equal(small, (manual + 0.5).floor().to(torch.uint8))
    assert prepare_frames(rgb, "rgb", 16).shape == (2, 3, 16, 16)
    assert torch.equal(prepare_frames(twoch, "2ch", 64), twoch[..., :64, :64])
    assert torch.equal(prepare_frames(small, "2ch", 32), small)  # already prepared: unchanged
    with pytest.raises(DreamlabError, match="channels"):
        prepare_frames(rgb, "2ch", 32)


def test_the_model_is_a_world_model_whose_rollout_keeps_embedding_shapes() -> None:
    model = _model()
    assert isinstance(model, WorldModel)
    env = TwoRoomsEnv(random_wall=False, obs_mode="2ch")
    obs, _ = env.reset(seed=0)
    frames = torch.from_numpy(np.stack([obs, obs, obs]))  # [3, 2, 65, 65] uint8
    with torch.no_grad():
        state = model.initial(frames)
        assert state.z.shape == (3, DEBUG.embed_dim)
        h = 7
        traj = rollout(model, state, torch.rand(3, h, 2) * 2 - 1)
    assert traj.states.z.shape == (3, h + 1, DEBUG.embed_dim)
    assert torch.equal(traj.reward, torch.zeros(3, h)) and torch.equal(traj.cont, torch.ones(3, h))
    assert torch.equal(traj.states.z[:, 0], state.z)
    # Actions beyond norm 1 are scaled as the environment scales them.
    with torch.no_grad():
        a = torch.tensor([[3.0, 4.0]] * 3)
        big, _ = model.step(state, a)
        unit, _ = model.step(state, a / 5.0)
    torch.testing.assert_close(big.z, unit.z)
    with pytest.raises(DreamlabError, match="no decoder"):
        model.decode(state)
    rgb_model = _model(dataclasses.replace(DEBUG, obs_mode="rgb"))
    rgb_obs, _ = TwoRoomsEnv(random_wall=False, obs_mode="rgb").reset(seed=0)
    assert rgb_model.initial(torch.from_numpy(rgb_obs[None])).z.shape == (1, DEBUG.embed_dim)


def test_the_planning_cost_is_made_of_embeddings_only() -> None:
    model = _model()
    env = TwoRoomsEnv(random_wall=False, obs_mode="2ch")
    obs, info = env.reset(seed=3)
    objective = embedding_objective(model, info["goal_obs"], "sum")
    with torch.no_grad():
        state = model.initial(torch.from_numpy(obs[None]))
    actions = torch.rand(1, 5, 6, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cost = evaluate_candidates(model, state, actions, objective)  # [1, 5]
    # Move the true dot and the true goal elsewhere: the cost of the same plan does not change.
    env.set_state(np.array([50.0, 50.0, *info["wall"], 10.0, 10.0], dtype=np.float32))
    assert torch.equal(evaluate_candidates(model, state, actions, objective), cost)
    # It is exactly the summed L2 distance of the imagined embeddings to the goal frame's.
    with torch.no_grad():
        goal = model.encode(torch.from_numpy(info["goal_obs"][None]))  # [1, D]
        imagined = rollout(model, state.repeat(5), actions[0]).states.z[:, 1:]  # [5, H, D]
    manual = (imagined - goal).norm(dim=-1)  # [5, H]
    torch.testing.assert_close(cost[0], manual.sum(dim=1))
    last = evaluate_candidates(
        model, state, actions, embedding_objective(model, info["goal_obs"], "last")
    )
    torch.testing.assert_close(last[0], manual[:, -1])
    # Not vacuous: another goal frame is another cost.
    other = embedding_objective(model, obs, "sum")
    assert not torch.equal(evaluate_candidates(model, state, actions, other), cost)


# ----------------------------------------------------------------------------- a short run


def test_the_cosine_learning_rate_runs_from_the_peak_to_its_end_fraction() -> None:
    rates = [cosine_lr(step, 100, 1e-3, 0.05) for step in range(101)]
    assert rates[0] == pytest.approx(1e-3) and rates[100] == pytest.approx(5e-5)
    assert rates[50] == pytest.approx(0.5 * (1e-3 + 5e-5))
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert {cosine_lr(step, 100, 1e-3, 1.0) for step in range(101)} == {1e-3}


def test_training_follows_the_cosine_learning_rate(tmp_path: Path) -> None:
    cfg = dataclasses.replace(DEBUG, eval_episodes=0)
    assert cfg.lr_end == 0.05  # the preset's decay
    run = create_run(tmp_path, "jepa_wm", "two-rooms", config_to_dict(cfg))
    train(cfg, "two-rooms", run)
    rates = {r["step"]: r["train/lr"] for r in read_metrics(run) if "train/lr" in r}
    # the rate logged at step s is the one update s (counted from 0 as s - 1) used
    assert rates == {s: pytest.approx(cosine_lr(s - 1, 20, cfg.lr, 0.05)) for s in (10, 20)}


def test_debug_run_checkpoints_resumes_without_extra_steps_and_continues_exactly(
    tmp_path: Path,
) -> None:
    # The half run below stops early by shortening ``steps``, which a decaying rate would read.
    cfg = dataclasses.replace(DEBUG, lr_end=1.0)
    assert cfg.steps == 20
    run = create_run(tmp_path, "jepa_wm", "two-rooms", config_to_dict(cfg))
    first = train(cfg, "two-rooms", run, resume=True)  # nothing to resume: starts fresh
    ckpts = list_checkpoints(run.checkpoints / "jepa_wm")
    assert [c.name for c in ckpts] == ["ckpt_000000020.safetensors"]
    data = ckpts[0].read_bytes()
    losses = [r["train/loss"] for r in read_metrics(run) if "train/loss" in r]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert first["train/embed_std"] > 0 and 0.0 <= first["eval/success_rate"] <= 1.0

    second = train(cfg, "two-rooms", run, resume=True)  # already done: no step taken
    assert list_checkpoints(run.checkpoints / "jepa_wm") == ckpts
    assert ckpts[0].read_bytes() == data
    assert [r["train/loss"] for r in read_metrics(run) if "train/loss" in r] == losses
    assert second["train/embed_std"] == first["train/embed_std"]
    assert json.loads((run.path / "summary.json").read_text())["steps"] == 20

    # A run stopped at step 10 and resumed reaches the same weights as the uninterrupted one.
    half = create_run(tmp_path, "jepa_wm", "two-rooms", config_to_dict(cfg), name="half")
    train(dataclasses.replace(cfg, steps=10, eval_episodes=0), "two-rooms", half)
    train(cfg, "two-rooms", half, resume=True)
    whole = load_checkpoint(run.checkpoints / "jepa_wm").tensors
    resumed = load_checkpoint(half.checkpoints / "jepa_wm").tensors
    for name, tensor in whole.items():
        if name.startswith("model."):
            assert torch.equal(tensor, resumed[name]), name

    scores = evaluate(run, 1)
    assert 0.0 <= scores["eval/success_rate"] <= 1.0


def test_a_planning_episode_on_the_fixed_wall_runs_end_to_end() -> None:
    model = _model()
    result = plan_episodes(model, DEBUG, 1, seed=5, random_wall=False)
    assert set(result) == {
        "success_rate",
        "plan_seconds_per_episode",
        "seconds_per_replan",
        "mean_steps",
        "episodes",
    }
    assert result["success_rate"] in (0.0, 1.0)
    assert 1 <= result["mean_steps"] <= DEBUG.max_episode_steps
    assert result["plan_seconds_per_episode"] > 0 and result["seconds_per_replan"] > 0


def test_later_plans_are_warm_started_with_fewer_iterations() -> None:
    cfg = dataclasses.replace(DEBUG, plan_iterations=3, plan_warm_iterations=1, replan_every=2)
    model = _model(cfg)
    env = TwoRoomsEnv(random_wall=False, obs_mode="2ch")
    obs, info = env.reset(seed=1)
    objective = embedding_objective(model, info["goal_obs"])
    agent = MPCAgent(
        model=model,
        planner=make_planner(cfg, torch.Generator().manual_seed(0)),
        horizon=cfg.plan_horizon,
        spec=ActionSpec.from_space(env.action_space),
        objective=objective,
        replan_every=cfg.replan_every,
    )
    _, carry = agent.act(obs)
    first = carry.plan
    assert first.costs_per_iteration.shape[0] == 3  # from scratch: plan_iterations
    for _ in range(cfg.replan_every):
        _, carry = agent.act(obs, carry)
    assert carry.replans == 2
    assert carry.plan.costs_per_iteration.shape[0] == 1  # warm-started: plan_warm_iterations
    # The second search started from the first plan shifted by the two executed steps: its
    # first candidate (the starting mean) is that shifted plan, whose cost it reports.
    assert first.mean is not None
    shifted = agent.spec.clip(shift_plan(first.mean, cfg.replan_every, agent.spec))
    with torch.no_grad():
        state = model.initial(torch.from_numpy(obs[None]))
        start_cost = evaluate_candidates(model, state, shifted.unsqueeze(1), objective)[0, 0]
    assert carry.plan.costs_per_iteration[0, 0] <= start_cost + 1e-5


def test_the_system_is_registered_and_names_bad_environments() -> None:
    spec = get_system("jepa_wm")
    assert spec.default_env == "two-rooms"
    assert set(spec.presets) == {
        "tworooms",
        "demo",
        "tworooms-pixel",
        "tworooms-vjepa2ac",
        "debug",
        "debug-pixel",
        "debug-vjepa2ac",
    }
    assert spec.presets["tworooms"].replan_every == 4
    assert random_wall_for(DEBUG, "two-rooms") and not random_wall_for(DEBUG, "two-rooms-fixed")
    with pytest.raises(DreamlabError, match="unknown jepa_wm environment"):
        random_wall_for(DEBUG, "CartPole-v1")


def test_input_statistics_standardise_every_channel_and_travel_with_the_weights() -> None:
    from dreamlab.algos.jepa_wm.model import ImpalaEncoder

    frames = torch.rand(64, 2, 16, 16) * torch.tensor([0.05, 0.8])[:, None, None]
    enc = ImpalaEncoder(2, 16, (4,), 1, 8, final_norm=True)
    enc.set_input_stats(frames)
    x = (frames - enc.input_mean[:, None, None]) / enc.input_std[:, None, None]
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2, 3)), torch.ones(2), atol=1e-5, rtol=0)
    # the statistics are buffers: a checkpoint carries them, so planning sees what training saw
    copy = ImpalaEncoder(2, 16, (4,), 1, 8, final_norm=True)
    copy.load_state_dict(enc.state_dict())
    torch.testing.assert_close(copy(frames), enc(frames), atol=0, rtol=0)
    # the final LayerNorm: every embedding has zero mean over its dimensions
    torch.testing.assert_close(enc(frames).mean(-1), torch.zeros(64), atol=1e-5, rtol=0)
