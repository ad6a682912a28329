"""The V-JEPA 2-AC recipe: V-JEPA's tube masks, a block-causal predictor whose step-by-step form
is its teacher-forced form, a frozen encoder that no predictor update touches, a planning cost
made of frame tokens only, and a two-stage run that trains, plans and resumes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamlab.algos.jepa_wm.config import PRESETS
from dreamlab.algos.jepa_wm.train import (
    build_model,
    encode_dataset,
    evaluate,
    make_dataset,
    planning_objective,
    train,
)
from dreamlab.algos.jepa_wm.vjepa2ac import (
    LONG_MASK,
    SHORT_MASK,
    ACPredictor,
    ACWorldModel,
    ac_losses,
)
from dreamlab.envs.two_rooms import TwoRoomsEnv
from dreamlab.errors import DreamlabError
from dreamlab.nn.video_masks import sample_video_masks
from dreamlab.planners import evaluate as evaluate_candidates
from dreamlab.protocols import WorldModel
from dreamlab.rollout import rollout
from dreamlab.train import config_to_dict, create_run, list_checkpoints, read_metrics
from dreamlab.train.checkpoint import load_checkpoint

DEBUG = PRESETS["debug-vjepa2ac"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _predictor(window: int | None = None, seed: int = 0) -> ACPredictor:
    torch.manual_seed(seed)
    predictor = ACPredictor(16, 2, 2, 16, 2, 2, max_frames=8, window=window)
    with torch.no_grad():
        # Untrained offset biases are zero; random ones make the frame offsets matter.
        predictor.offset_bias.normal_()
    return predictor


def _model() -> ACWorldModel:
    torch.manual_seed(0)
    model = build_model(DEBUG)
    assert isinstance(model, ACWorldModel)
    return model


# ----------------------------------------------------------------------------- V-JEPA's masks


def test_tube_masks_split_every_clip_into_disjoint_context_and_target_tubes() -> None:
    rng = np.random.default_rng(0)
    grid = (3, 8, 8)
    for blocks, scale in (SHORT_MASK, LONG_MASK):
        masks = sample_video_masks(rng, grid, 6, blocks, scale)
        assert masks.context.shape[0] == masks.target.shape[0] == 6
        for ctx, tgt in zip(masks.context.tolist(), masks.target.tolist(), strict=True):
            assert ctx and tgt and not set(ctx) & set(tgt)
            # Masks are tubes through the whole clip: a cell masked in some frame is context in
            # no frame (token i is frame i // 64, cell i % 64).
            assert not {i % 64 for i in ctx} & {i % 64 for i in tgt}
            # Rows are cut to the batch's shortest from the end (V-JEPA's collator), so the
            # first frame always keeps context.
            assert 0 in {i // 64 for i in ctx}
    with pytest.raises(DreamlabError, match="no context"):
        sample_video_masks(rng, (2, 2, 2), 4, 4, 1.0)


# ----------------------------------------------------------------------------- the predictor


def test_the_predictor_is_block_causal_over_frames() -> None:
    predictor = _predictor()
    g = torch.Generator().manual_seed(1)
    z, a = torch.randn(3, 6, 4, 16, generator=g), torch.rand(3, 6, 2, generator=g) - 0.5
    with torch.no_grad():
        base = predictor(z, a)  # [B, T, n, D]: index t predicts frame t + 1
        for t in range(5):
            # Change frame t + 1's input (its tokens and its action): predictions made at
            # frames <= t stay exactly the same, the ones from t + 1 on change.
            z2, a2 = z.clone(), a.clone()
            z2[:, t + 1] += 1.0
            a2[:, t + 1] += 0.3
            changed = predictor(z2, a2)
            assert torch.equal(changed[:, : t + 1], base[:, : t + 1]), t
            assert not torch.allclose(changed[:, t + 1], base[:, t + 1])
        # Every earlier frame is attended to: frame 0 still shapes the prediction at frame 5.
        z3 = z.clone()
        z3[:, 0] += 1.0
        assert not torch.allclose(predictor(z3, a)[:, 5], base[:, 5])
        # With a window of 2 frames each block looks one frame back, so through its 2 blocks
        # frame 0 reaches the predictions at frames 0 .. 2 and no further.
        windowed = _predictor(window=2)
        w_base, w_changed = windowed(z, a), windowed(z3, a)
        assert torch.equal(w_changed[:, 3:], w_base[:, 3:])
        assert not torch.allclose(w_changed[:, 2], w_base[:, 2])


def test_stepping_one_frame_at_a_time_reproduces_teacher_forcing() -> None:
    predictor = _predictor()
    g = torch.Generator().manual_seed(2)
    z, a = torch.randn(3, 6, 4, 16, generator=g), torch.rand(3, 6, 2, generator=g) - 0.5
    with torch.no_grad():
        tf = predictor(z, a)
        for memory in (5, 1):
            cache, valid = predictor.empty_cache(3, memory)
            steps = []
            for t in range(6):
                out, cache, valid = predictor.step(z[:, t], a[:, t], cache, valid)
                steps.append(out)
            stepped = torch.stack(steps, dim=1)
            if memory == 5:  # remembers every earlier frame: exactly the teacher-forced outputs
                torch.testing.assert_close(stepped, tf, atol=1e-5, rtol=1e-5)
            else:  # one frame of memory: the same weights under a 2-frame window
                torch.testing.assert_close(stepped[:, :2], tf[:, :2], atol=1e-5, rtol=1e-5)
                windowed = _predictor(window=2)
                windowed.load_state_dict(predictor.state_dict())
                torch.testing.assert_close(stepped, windowed(z, a), atol=1e-5, rtol=1e-5)
    with pytest.raises(DreamlabError, match="remember"):
        predictor.empty_cache(1, 8)


def test_the_rollout_loss_feeds_predictions_back() -> None:
    predictor = _predictor()
    g = torch.Generator().manual_seed(3)
    tokens = torch.nn.functional.layer_norm(torch.randn(4, 5, 4, 16, generator=g), (16,))
    actions = torch.rand(4, 4, 2, generator=g) - 0.5
    loss, terms = ac_losses(predictor, tokens, actions, rollout_steps=2)
    assert loss.item() == pytest.approx((terms["tf"] + terms["rollout"]).item(), rel=1e-6)
    with torch.no_grad():
        tf = predictor(tokens[:, :-1], actions)
        # Step 1 of the rollout is the teacher-forced prediction from z_0; step 2 feeds it back.
        second = predictor(torch.stack([tokens[:, 0], tf[:, 0]], dim=1), actions[:, :2])[:, 1]
    expected = ((tf[:, 0] - tokens[:, 1]).abs().mean() + (second - tokens[:, 2]).abs().mean()) / 2
    assert terms["rollout"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert terms["tf"].item() == pytest.approx((tf - tokens[:, 1:]).abs().mean().item(), rel=1e-5)


# ----------------------------------------------------------------------------- the world model


def test_the_model_is_a_world_model_over_pooled_frame_tokens() -> None:
    model = _model()
    assert isinstance(model, WorldModel)
    obs, _ = TwoRoomsEnv(random_wall=False, obs_mode="2ch").reset(seed=0)
    n, d = DEBUG.ac_pool**2, DEBUG.vit_width
    with torch.no_grad():
        state = model.initial(torch.from_numpy(np.stack([obs, obs, obs])))
        traj = rollout(model, state, torch.rand(3, 7, 2) * 2 - 1)
    assert state.z.shape == (3, n, d)
    # Layer-normed tokens: zero mean and unit variance over the features.
    torch.testing.assert_close(state.z.mean(-1), torch.zeros(3, n), atol=1e-5, rtol=0)
    assert traj.states.z.shape == (3, 8, n, d)
    assert traj.states.extras["valid"].shape == (3, 8, DEBUG.ac_memory)
    assert torch.equal(traj.reward, torch.zeros(3, 7)) and torch.equal(traj.cont, torch.ones(3, 7))
    with pytest.raises(DreamlabError, match="no decoder"):
        model.decode(state)
    with pytest.raises(DreamlabError, match="remember"):
        build_model(dataclasses.replace(DEBUG, ac_memory=DEBUG.trajectory_length))


def test_the_planning_cost_is_the_l1_distance_of_frame_tokens() -> None:
    model = _model()
    env = TwoRoomsEnv(random_wall=False, obs_mode="2ch")
    obs, info = env.reset(seed=4)
    objective = planning_objective(model, info["goal_obs"], "sum")
    with torch.no_grad():
        state = model.initial(torch.from_numpy(obs[None]))
        goal = model.encode(torch.from_numpy(info["goal_obs"][None]))  # [1, n, D]
    actions = torch.rand(1, 4, 5, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cost = evaluate_candidates(model, state, actions, objective)  # [1, 4]
    with torch.no_grad():
        imagined = rollout(model, state.repeat(4), actions[0]).states.z[:, 1:]  # [4, H, n, D]
    manual = (imagined - goal[:, None]).abs().sum(dim=(2, 3))  # [4, H]
    torch.testing.assert_close(cost[0], manual.sum(dim=1))
    env.set_state(np.array([50.0, 50.0, *info["wall"], 10.0, 10.0], dtype=np.float32))
    assert torch.equal(evaluate_candidates(model, state, actions, objective), cost)
    other = planning_objective(model, obs, "sum")
    assert not torch.equal(evaluate_candidates(model, state, actions, other), cost)


def test_the_frozen_encoder_gets_no_gradient_from_the_predictor_loss() -> None:
    model = _model()
    data = make_dataset(dataclasses.replace(DEBUG, trajectories=4), random_wall=True)
    obs = torch.from_numpy(data.obs)
    tokens = encode_dataset(model, obs)  # [N, T, n, D]
    assert tokens.shape == (4, DEBUG.trajectory_length, DEBUG.ac_pool**2, DEBUG.vit_width)
    assert all(not p.requires_grad for p in model.encoder.parameters())
    # Even with the encoder in the graph (tokens made with gradient on), nothing reaches it.
    x = obs[:, :3].flatten(0, 1).float() / 255.0
    live = model.frame_tokens(x).reshape(4, 3, *tokens.shape[2:])
    loss, _ = ac_losses(model.predictor, live, torch.from_numpy(data.actions[:, :2]), 2)
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.predictor.parameters())


# ----------------------------------------------------------------------------- the run


def test_a_debug_run_pretrains_freezes_trains_plans_and_resumes(tmp_path: Path) -> None:
    cfg = DEBUG
    total = cfg.encoder_steps + cfg.steps
    # Stage 1 only: V-JEPA pretraining moves the EMA encoder away from its initial weights.
    first = create_run(tmp_path, "jepa_wm", "two-rooms", config_to_dict(cfg), name="first")
    train(dataclasses.replace(cfg, steps=0, eval_episodes=0), "two-rooms", first)
    initial = _model().encoder.state_dict()
    pretrained = load_checkpoint(first.checkpoints / "jepa_wm")
    assert pretrained.step == cfg.encoder_steps
    enc = {
        k[len("model.encoder.") :]: v
        for k, v in pretrained.tensors.items()
        if "model.encoder." in k
    }
    assert any(not torch.equal(enc[k], initial[k]) for k in initial)
    # Stage 2, resumed from there: the encoder's weights stay exactly as pretrained, the
    # predictor's change.
    results = train(cfg, "two-rooms", first, resume=True)
    final = load_checkpoint(first.checkpoints / "jepa_wm")
    assert final.step == total
    for name, tensor in pretrained.tensors.items():
        if name.startswith("model.encoder."):
            assert torch.equal(final.tensors[name], tensor), name
    assert any(
        not torch.equal(final.tensors[k], pretrained.tensors[k])
        for k in final.tensors
        if k.startswith("model.predictor.")
    )
    rows = read_metrics(first)
    assert any("pretrain/loss" in r for r in rows) and any("train/loss/rollout" in r for r in rows)
    assert 0.0 <= results["eval/success_rate"] <= 1.0 and results["train/embed_std"] > 0
    # The same run without the stop reaches the same weights.
    whole = create_run(tmp_path, "jepa_wm", "two-rooms", config_to_dict(cfg), name="whole")
    train(cfg, "two-rooms", whole)
    assert [c.name for c in list_checkpoints(whole.checkpoints / "jepa_wm")] == [
        f"ckpt_{total:09d}.safetensors"
    ]
    uninterrupted = load_checkpoint(whole.checkpoints / "jepa_wm").tensors
    for name, tensor in final.tensors.items():
        if name.startswith("model."):
            assert torch.equal(tensor, uninterrupted[name]), name
    scores = evaluate(whole, 1)
    assert scores["eval/episodes"] == 1 and 0.0 <= scores["eval/success_rate"] <= 1.0
