"""DreamerV3: the RSSM, the stream replay, the losses' wiring and a short run end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamlab.algos.dreamer.config import PRESETS, SIZES
from dreamlab.algos.dreamer.math import LaProp, ReturnNormalizer
from dreamlab.algos.dreamer.networks import RSSM, BlockLinear
from dreamlab.algos.dreamer.replay import StreamReplay
from dreamlab.algos.dreamer.train import (
    Dreamer,
    EnvInfo,
    imagine,
    replay_returns,
    update,
    world_model_loss,
)
from dreamlab.errors import DreamlabError
from dreamlab.protocols import WorldModel
from dreamlab.types import Batch

CFG = PRESETS["debug"]
VECTOR = EnvInfo("CartPole-v1", (4,), image=False, discrete=True, action_dim=2)


def test_block_linear_keeps_blocks_independent() -> None:
    layer = BlockLinear(8, 4, blocks=2)
    x = torch.randn(1, 8, requires_grad=True)
    layer(x)[0, :2].sum().backward()  # outputs of block 0
    assert x.grad is not None
    assert x.grad[0, :4].abs().sum() > 0 and x.grad[0, 4:].abs().sum() == 0
    with pytest.raises(ValueError, match="divide"):
        BlockLinear(9, 4, blocks=2)


def test_is_first_resets_the_state_and_action() -> None:
    torch.manual_seed(0)
    rssm = RSSM(CFG, action_dim=2, embed=5)
    embed, action = torch.randn(3, 5), torch.randn(3, 2)
    noisy = rssm.initial(3)
    noisy = type(noisy)(torch.randn_like(noisy.deter), noisy.stoch + 1, noisy.logits)
    first = torch.ones(3, dtype=torch.bool)
    a, _ = rssm.obs_step(noisy, action, embed, first)
    b, _ = rssm.obs_step(rssm.initial(3), torch.zeros(3, 2), embed, first)
    torch.testing.assert_close(a.deter, b.deter)
    c, _ = rssm.obs_step(noisy, action, embed, ~first)
    assert not torch.allclose(a.deter, c.deter)


def test_latents_are_one_hot_with_straight_through_gradients() -> None:
    rssm = RSSM(CFG, action_dim=2, embed=5)
    post, prior = rssm.obs_step(
        rssm.initial(4), torch.zeros(4, 2), torch.randn(4, 5), torch.ones(4, dtype=torch.bool)
    )
    assert post.stoch.shape == (4, CFG.stoch, CFG.classes) == prior.shape
    torch.testing.assert_close(post.stoch.detach().sum(-1), torch.ones(4, CFG.stoch))
    z = post.stoch.detach()
    assert float((z - z.round()).abs().max()) < 1e-5  # one-hot up to rounding
    post.stoch.sum().backward()  # straight through: the sample's gradient reaches the network
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in rssm.post_net.parameters())
    # unimix: every class keeps at least 1% / K probability
    assert float(prior.detach().softmax(-1).min()) >= CFG.unimix / CFG.classes - 1e-6


def test_dreamer_is_a_world_model_with_zero_initial_reward_and_value() -> None:
    model = Dreamer(CFG, VECTOR)
    assert isinstance(model, WorldModel)
    state = model.initial(torch.randn(3, 4))
    state = model.observe(state, torch.tensor([0, 1, 0]), torch.randn(3, 4))
    nxt, out = model.step(state, torch.tensor([1, 1, 0]))
    assert nxt.z.shape == (3, CFG.stoch, CFG.classes) and nxt.h is not None
    assert nxt.h.shape == (3, CFG.deter)
    # the zero-initialised reward head predicts exactly 0 before training
    torch.testing.assert_close(out.reward, torch.zeros(3))
    assert model.decode(nxt).shape == (3, 4)


def _stream(replay: StreamReplay, env: int, episodes: list[int], start: float = 0.0) -> None:
    v = start
    for length in episodes:
        for t in range(length + 1):
            replay.add(
                env, obs=np.full(2, v, np.float32), action=np.zeros(1), reward=float(t > 0),
                is_first=t == 0, is_last=t == length, is_terminal=t == length,
            )  # fmt: skip
            v += 1


def test_stream_replay_windows_cross_episodes_and_mark_their_start() -> None:
    replay = StreamReplay(2, 100, (2,), np.dtype(np.float32), (1,))
    _stream(replay, 0, [3, 2, 4])  # 12 rows
    _stream(replay, 1, [1], start=1000)  # 2 rows: too short for a window of 5
    batch = replay.sample(64, 5, np.random.default_rng(0))
    assert batch.shape == (64, 5)
    obs = batch.obs[..., 0]
    assert bool((obs < 1000).all())  # never from environment 1, never mixing streams
    torch.testing.assert_close(obs[:, 1:] - obs[:, :-1], torch.ones(64, 4))  # consecutive rows
    assert bool(batch.is_first[:, 0].all())
    # inside the window, is_first sits exactly at the stored episode starts (rows 0, 4, 7)
    starts = {0.0, 4.0, 7.0}
    inner = batch.is_first[:, 1:]
    expected = torch.tensor([[float(v) in starts for v in row] for row in obs[:, 1:].tolist()])
    assert torch.equal(inner, expected)
    with pytest.raises(DreamlabError, match="fewer than a sequence"):
        replay.sample(4, 13, np.random.default_rng(0))


def test_stream_replay_overwrites_oldest_first_and_keeps_uint8() -> None:
    replay = StreamReplay(1, 10, (2, 2, 3), np.dtype(np.uint8), (1,))
    for i in range(25):
        replay.add(
            0, obs=np.full((2, 2, 3), i, np.uint8), action=np.zeros(1), reward=0.0,
            is_first=False, is_last=False, is_terminal=False,
        )  # fmt: skip
    batch = replay.sample(200, 10, np.random.default_rng(0))
    assert batch.obs.dtype == torch.uint8
    assert torch.equal(batch.obs[0, :, 0, 0, 0], torch.arange(15, 25, dtype=torch.uint8))
    restored = StreamReplay(1, 10, (2, 2, 3), np.dtype(np.uint8), (1,))
    restored.load(replay.arrays())
    again = restored.sample(3, 4, np.random.default_rng(5))
    assert torch.equal(again.obs, replay.sample(3, 4, np.random.default_rng(5)).obs)


def _batch(b: int = 2, t: int = 6, terminal_at: int | None = None) -> Batch:
    is_first = torch.zeros(b, t, dtype=torch.bool)
    is_first[:, 0] = True
    is_terminal = torch.zeros(b, t, dtype=torch.bool)
    if terminal_at is not None:
        is_terminal[:, terminal_at] = True
    return Batch(
        obs=torch.randn(b, t, 4),
        action=torch.nn.functional.one_hot(torch.randint(0, 2, (b, t)), 2).float(),
        reward=torch.ones(b, t),
        is_first=is_first,
        is_last=is_terminal.clone(),
        is_terminal=is_terminal,
    )


def test_imagined_trajectories_weigh_nothing_after_a_terminal_start() -> None:
    torch.manual_seed(0)
    model = Dreamer(CFG, VECTOR)
    batch = _batch(terminal_at=5)
    _, _, post = world_model_loss(model, batch)
    start = type(post)(*(x.detach().flatten(0, 1) for x in (post.deter, post.stoch, post.logits)))
    imag = imagine(model, start, batch.is_terminal.flatten(), horizon=4)
    assert imag.feat.shape == (12, 5, CFG.deter + CFG.stoch * CFG.classes)
    w = imag.weight.reshape(2, 6, 5)
    assert bool((w[:, 5] == 0).all())  # a start that is a terminal state leads nowhere
    assert bool((w[:, :5, 0] == 1).all())
    assert bool((w[:, :5, 1:] <= w[:, :5, :-1]).all())  # weights never grow along a trajectory


def test_replay_returns_bootstrap_from_imagination_and_stop_at_terminals() -> None:
    batch = _batch(b=1, t=4, terminal_at=2)  # o_2 is terminal; o_3 would start a new episode
    batch.is_first[0, 3] = True
    batch.is_terminal[0, 2], batch.is_last[0, 2] = True, True
    boot = torch.tensor([[5.0, 7.0, 9.0, 11.0]])
    g, lam = 0.9, 0.5
    rets = replay_returns(batch, boot, g, lam)
    # R_2: its successor starts a new episode, so only r_3 counts: 1
    # R_1: r_2 = 1, then o_2 is terminal: nothing more; R_1 = 1
    # R_0 = r_1 + g ((1 - lam) boot_1 + lam R_1) = 1 + 0.9 (0.5 * 7 + 0.5 * 1) = 4.6
    torch.testing.assert_close(rets, torch.tensor([[4.6, 1.0, 1.0]]))
    # without ends: R_2 = r_3 + g boot_3 ... the last target bootstraps fully
    open_batch = _batch(b=1, t=4)
    rets = replay_returns(open_batch, boot, g, lam)
    r2 = 1 + g * ((1 - lam) * 11 + lam * 11)
    r1 = 1 + g * ((1 - lam) * 9 + lam * r2)
    r0 = 1 + g * ((1 - lam) * 7 + lam * r1)
    torch.testing.assert_close(rets, torch.tensor([[r0, r1, r2]]))


def test_one_update_changes_every_trained_part_and_the_slow_critic_follows() -> None:
    torch.manual_seed(0)
    model = Dreamer(CFG, VECTOR)
    opt = LaProp([p for p in model.parameters() if p.requires_grad], lr=1e-3, eps=CFG.eps)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    metrics = update(model, opt, _batch(b=3, t=8), ReturnNormalizer())
    assert all(np.isfinite(v) for v in metrics.values())
    after = model.state_dict()
    for part in ("encoder", "rssm", "decoder", "reward_head", "cont_head", "actor", "critic"):
        changed = [not torch.equal(before[k], after[k]) for k in after if k.startswith(part + ".")]
        assert any(changed), part
    slow = [not torch.equal(before[k], after[k]) for k in after if k.startswith("slow_critic.")]
    assert any(slow)


def test_model_size_presets_match_the_paper() -> None:
    assert (SIZES["1m"]["deter"], SIZES["1m"]["hidden"], SIZES["1m"]["classes"]) == (512, 64, 4)
    assert (SIZES["12m"]["deter"], SIZES["12m"]["hidden"], SIZES["12m"]["classes"]) == (
        2048,
        256,
        16,
    )
    cfg = PRESETS["12m"]
    assert cfg.stoch == 32 and cfg.blocks == 8 and cfg.bins == 255 and cfg.lr == 4e-5


def _cartpole_replay(steps: int, seed: int) -> StreamReplay:
    import gymnasium

    env = gymnasium.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    replay = StreamReplay(1, steps + 600, (4,), np.dtype(np.float32), (2,))
    obs, _ = env.reset(seed=seed)
    first, reward, prev = True, 0.0, np.zeros(2, np.float32)
    for _ in range(steps):
        replay.add(
            0, obs=obs, action=prev, reward=reward, is_first=first, is_last=False, is_terminal=False
        )
        a = int(rng.integers(2))
        obs, reward, term, trunc, _ = env.step(a)
        prev, first = np.eye(2, dtype=np.float32)[a], False
        if term or trunc:
            replay.add(
                0,
                obs=obs,
                action=prev,
                reward=reward,
                is_first=False,
                is_last=True,
                is_terminal=term,
            )
            obs, _ = env.reset()
            first, reward, prev = True, 0.0, np.zeros(2, np.float32)
    return replay


def test_the_world_model_learns_cartpole_from_random_play() -> None:
    """200 updates on random CartPole steps: reconstruction, reward and continue losses on
    held-out sequences fall well below the untrained model's."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = PRESETS["debug"]
    model = Dreamer(cfg, VECTOR)
    opt = LaProp([p for p in model.parameters() if p.requires_grad], lr=1e-3, eps=cfg.eps)
    train, held = _cartpole_replay(3000, 0), _cartpole_replay(600, 1)
    test_batch = held.sample(32, 16, np.random.default_rng(2))

    def losses() -> dict[str, float]:
        with torch.no_grad():
            _, parts, _ = world_model_loss(model, test_batch)
        return {k: float(v) for k, v in parts.items()}

    before = losses()
    rng, norm = np.random.default_rng(3), ReturnNormalizer()
    for _ in range(200):
        update(model, opt, train.sample(8, 16, rng), norm)
    after = losses()
    assert after["rec"] < 0.3 * before["rec"], (before, after)
    assert after["rew"] < 0.5 * before["rew"], (before, after)
    assert after["con"] < 0.5 * before["con"], (before, after)


def test_a_killed_run_resumes_and_dream_draws_the_imagination(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL after the first checkpoint; --resume continues with the saved curve, replay and
    normaliser; then ``dreamlab dream`` and ``dreamlab eval`` work on the finished run."""
    import json
    import signal
    import subprocess
    import sys
    import time

    from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint

    cmd = [sys.executable, "-m", "dreamlab.cli", "train", "dreamer", "--env", "cartpole"]
    cmd += ["--preset", "debug", "--runs", str(tmp_path), "--name", "dr", "--env_steps", "600"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = tmp_path / "dr" / "checkpoints" / "dreamer"
    deadline = time.time() + 240
    while latest_checkpoint(folder) is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = load_checkpoint(folder)
    assert 200 <= saved.step < 600
    assert int(saved.tensors["replay.count"].sum()) >= saved.step
    resume = [sys.executable, "-m", "dreamlab.cli", "train", "--resume", str(tmp_path / "dr")]
    subprocess.run(resume, check=True, capture_output=True, timeout=300)
    summary = json.loads((tmp_path / "dr" / "summary.json").read_text())
    assert summary["env_steps"] >= 600
    assert summary["curve"][: len(saved.meta["curve"])] == saved.meta["curve"]
    assert summary["updates"] > saved.meta["updates"]
    dream = [sys.executable, "-m", "dreamlab.cli", "dream", str(tmp_path / "dr"), "--frames", "30"]
    subprocess.run(dream, check=True, capture_output=True, timeout=300)
    assert (tmp_path / "dr" / "videos" / "imagination.png").stat().st_size > 1000
