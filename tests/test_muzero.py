"""MuZero: targets, gradient scaling, tic-tac-toe and its minimax player, a short run end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from dreamlab.algos.muzero.networks import MuZeroNet, scale_gradient, scale_latent
from dreamlab.algos.muzero.replay import GameReplay, permute_plan
from dreamlab.envs import make_env
from dreamlab.envs.tictactoe import (
    SYMMETRIES,
    TicTacToe,
    minimax_blunders,
    minimax_move,
    minimax_value,
)
from dreamlab.errors import DreamlabError


def _game(replay: GameReplay, rewards: list[float], terminal: bool) -> int:
    g = replay.new_game(np.zeros(2), np.ones(2, bool))
    for t, r in enumerate(rewards):
        replay.add(
            g,
            action=t % 2,
            reward=r,
            obs=np.full(2, t + 1.0),
            legal=np.ones(2, bool),
            policy=np.array([0.25, 0.75]),
            value=0.0,
            terminal=terminal and t == len(rewards) - 1,
            truncated=False,
        )
    return g


def _plan_for(replay: GameReplay, t: int, unroll: int, td: int, discount: float, two: bool):  # type: ignore[no-untyped-def]
    # Only position t has weight: every other priority is 0.
    for p in replay.priority:
        p[:] = [0.0] * len(p)
    replay.priority[0][t] = 1.0
    return replay.sample(1, unroll, td, discount, two, 1.0, np.random.default_rng(0))


def test_n_step_targets_bootstrap_and_absorb_after_the_end() -> None:
    replay = GameReplay(actions=2)
    _game(replay, [1.0, 2.0, 3.0, 4.0], terminal=True)
    plan = _plan_for(replay, t=1, unroll=3, td=2, discount=0.5, two=False)
    # k=0 (o_1): r_2 + 0.5 r_3 + 0.25 v(o_3); k=1 (o_2): 3 + 0.5*4, the game ends: no bootstrap;
    # k=2 (o_3): 4 only; k=3 (o_4, terminal): absorbing 0.
    np.testing.assert_allclose(plan.partial[0], [2 + 1.5, 3 + 2, 4, 0])
    np.testing.assert_allclose(plan.boot_weight[0], [0.25, 0, 0, 0])
    np.testing.assert_array_equal(plan.boot_obs[plan.boot_index[0, 0]], [3.0, 3.0])
    np.testing.assert_array_equal(plan.value_mask[0], [1, 1, 1, 1])
    np.testing.assert_array_equal(plan.policy_mask[0], [1, 1, 1, 0])
    np.testing.assert_array_equal(plan.reward[0], [0, 2, 3, 4])
    np.testing.assert_array_equal(plan.actions[0], [1, 0, 1])


def test_an_unfinished_game_bootstraps_from_its_last_observation_and_masks_the_unknown() -> None:
    replay = GameReplay(actions=2)
    _game(replay, [1.0, 1.0, 1.0], terminal=False)
    plan = _plan_for(replay, t=1, unroll=3, td=5, discount=0.9, two=False)
    np.testing.assert_allclose(plan.partial[0, :2], [1 + 0.9, 1])
    np.testing.assert_allclose(plan.boot_weight[0, :2], [0.81, 0.9])
    np.testing.assert_array_equal(plan.boot_obs[plan.boot_index[0, 0]], [3.0, 3.0])
    np.testing.assert_array_equal(plan.value_mask[0], [1, 1, 0, 0])
    np.testing.assert_array_equal(plan.reward_mask[0], [0, 1, 1, 0])


def test_consistency_targets_are_the_real_next_observations_and_only_on_the_dynamics_side() -> None:
    replay = GameReplay(actions=2)
    _game(replay, [1.0, 1.0, 1.0], terminal=True)
    plan = _plan_for(replay, t=1, unroll=3, td=1, discount=1.0, two=False)
    # o_2 and o_3 (terminal) exist; o_4 does not.
    np.testing.assert_array_equal(plan.next_obs[0, :, 0], [2.0, 3.0, 0.0])
    np.testing.assert_array_equal(plan.next_obs_mask[0], [1, 1, 0])
    net = MuZeroNet(obs_dim=2, actions=2, hidden=8, latent=4, support=3, consistency=True)
    predicted = torch.rand(5, 4, requires_grad=True)
    observed = torch.rand(5, 4, requires_grad=True)
    loss = net.consistency_loss(predicted, observed)
    assert loss.shape == (5,) and bool(((loss >= -1) & (loss <= 1)).all())
    loss.sum().backward()
    assert predicted.grad is not None and predicted.grad.abs().sum() > 0
    assert observed.grad is None  # the observed side is a stop-gradient target


def test_two_player_targets_flip_sign_every_ply() -> None:
    replay = GameReplay(actions=2)
    _game(replay, [0.0, 0.0, 1.0], terminal=True)  # the third move wins
    plan = _plan_for(replay, t=0, unroll=1, td=9, discount=1.0, two=True)
    # From o_0 the winner (mover at o_2) is the player to move: +1; from o_1 it is the opponent.
    np.testing.assert_allclose(plan.partial[0], [1.0, -1.0])


def test_importance_weights_follow_priorities() -> None:
    replay = GameReplay(actions=2)
    _game(replay, [1.0] * 4, terminal=True)
    replay.priority[0][:] = [1.0, 1.0, 1.0, 5.0]
    plan = replay.sample(2000, 1, 1, 1.0, False, 1.0, np.random.default_rng(0))
    picked = np.array([t for _, t in plan.positions])
    assert abs((picked == 3).mean() - 5 / 8) < 0.04
    # w_i = (N p_i)^-beta / max_j w_j: (4 * 5/8)^-1 / (4 * 1/8)^-1 = 0.2 for the likely position.
    np.testing.assert_allclose(plan.weights[picked == 3], 0.2, rtol=1e-6)
    np.testing.assert_allclose(plan.weights[picked != 3], 1.0, rtol=1e-6)


def test_gradient_scaling_and_latent_scaling() -> None:
    x = torch.ones(3, requires_grad=True)
    (scale_gradient(x, 0.5) * 2).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), 1.0))
    s = scale_latent(torch.tensor([[1.0, 3.0, 2.0], [-5.0, 5.0, 0.0]]))
    torch.testing.assert_close(s.min(1).values, torch.zeros(2))
    torch.testing.assert_close(s.max(1).values, torch.ones(2), atol=1e-4, rtol=0)


def test_muzero_net_is_a_world_model_for_the_search() -> None:
    net = MuZeroNet(obs_dim=4, actions=2, hidden=16, latent=8, support=5)
    root, value, logits = net.root(torch.zeros(3, 4))
    state, out = net.step(root, torch.tensor([0, 1, 1]))
    assert state.z.shape == (3, 8) and out.reward.shape == (3,)
    assert out.extras["value"].shape == (3,) and out.extras["policy_logits"].shape == (3, 2)
    assert value.shape == (3,) and logits.shape == (3, 2)


def test_tictactoe_rules_and_minimax() -> None:
    assert minimax_value((0,) * 9) == 0  # perfect play draws
    # X to move with two in a row wins at once.
    board = (1, 1, 0, -1, -1, 0, 0, 0, 0)
    assert minimax_move(board, np.random.default_rng(0)) == 2
    env = TicTacToe()
    obs, info = env.reset()
    assert obs.shape == (27,) and info["legal"].all() and info["to_play"] == 0
    env.step(4)
    with pytest.raises(DreamlabError, match="illegal move 4"):
        env.step(4)
    assert make_env("tictactoe").action_space.n == 9
    # Minimax against itself never loses: every game is a draw.
    rng = np.random.default_rng(1)
    for _ in range(20):
        env.reset()
        while True:
            _, r, term, _, _ = env.step(minimax_move(env.board, rng))
            if term:
                assert r == 0
                break


def test_the_exhaustive_check_finds_exactly_the_moves_that_give_away_value() -> None:
    def perfect(board: tuple[int, ...]) -> int:
        return minimax_move(board, np.random.default_rng(0))

    assert minimax_blunders(perfect) == []
    # Perfect except for one reply: after X takes a corner, O must take the centre.
    corner = (1, 0, 0, 0, 0, 0, 0, 0, 0)

    def one_slip(board: tuple[int, ...]) -> int:
        return 1 if board == corner else perfect(board)

    assert minimax_blunders(one_slip) == [(corner, 1)]
    # Always taking the first empty cell loses somewhere, and every reported move loses value.
    first = minimax_blunders(lambda board: board.index(0))
    assert (corner, 1) in first
    for board, move in first:
        me = 1 if board.count(0) % 2 == 1 else -1
        after = (*board[:move], me, *board[move + 1 :])
        assert -minimax_value(after) < minimax_value(board)


def test_a_short_cartpole_run_beats_the_random_policy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The small preset (300 steps, 4 simulations) through the CLI; random play scores ~22."""
    cmd = [sys.executable, "-m", "dreamlab.cli", "train", "muzero", "--env", "cartpole"]
    cmd += ["--preset", "small", "--runs", str(tmp_path), "--name", "mz"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    summary = json.loads((tmp_path / "mz" / "summary.json").read_text())
    assert summary["env_steps"] >= 300
    assert summary["curve"][-1]["return"] > 30
    out = subprocess.run(
        [sys.executable, "-m", "dreamlab.cli", "eval", str(tmp_path / "mz"), "--episodes", "5"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "eval/return" in out.stdout


def test_dream_draws_the_search_tree(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "dreamlab.cli", "train", "muzero", "--env", "cartpole"]
    cmd += ["--preset", "small", "--runs", str(tmp_path), "--name", "mz", "--env_steps", "60"]
    cmd += ["--warmup_steps", "20", "--eval_every", "60"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    out = subprocess.run(
        [sys.executable, "-m", "dreamlab.cli", "dream", str(tmp_path / "mz"), "--frames", "3"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    png = tmp_path / "mz" / "videos" / "search_tree_step3.png"
    assert png.exists() and png.stat().st_size > 10_000, out.stdout


def test_reanalyze_recomputes_the_policy_targets_of_its_share_only() -> None:
    from dreamlab.algos.muzero.train import reanalyze_policies
    from dreamlab.planners.mcts import SearchConfig

    replay = GameReplay(actions=2)
    for _ in range(3):
        _game(replay, [1.0] * 6, terminal=True)
    plan = replay.sample(8, 2, 3, 0.9, False, 1.0, np.random.default_rng(0))
    net = MuZeroNet(obs_dim=2, actions=2, hidden=8, latent=4, support=3)
    search = SearchConfig(simulations=8, gumbel=True)
    policy = reanalyze_policies(plan, replay, net, search, 0.5, np.random.default_rng(1))
    np.testing.assert_array_equal(policy[4:], plan.policy[4:])
    changed = ~np.isclose(policy[:4], plan.policy[:4]).all(axis=-1)  # [4, K + 1]
    assert changed[plan.policy_mask[:4] > 0].all()  # every real position was searched again
    np.testing.assert_allclose(policy[:4].sum(-1)[plan.policy_mask[:4] > 0], 1.0, rtol=1e-6)


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL after the first checkpoint; --resume continues with the saved curve and replay."""
    import signal
    import time

    from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint

    cmd = [sys.executable, "-m", "dreamlab.cli", "train", "muzero", "--env", "cartpole"]
    cmd += ["--preset", "small", "--runs", str(tmp_path), "--name", "mz", "--env_steps", "600"]
    cmd += ["--eval_every", "100"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = tmp_path / "mz" / "checkpoints" / "muzero"
    deadline = time.time() + 240
    while latest_checkpoint(folder) is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = load_checkpoint(folder)
    assert 100 <= saved.step < 600
    run = [sys.executable, "-m", "dreamlab.cli", "train", "--resume", str(tmp_path / "mz")]
    subprocess.run(run, check=True, capture_output=True, timeout=300)
    summary = json.loads((tmp_path / "mz" / "summary.json").read_text())
    assert summary["env_steps"] >= 600
    assert summary["curve"][: len(saved.meta["curve"])] == saved.meta["curve"]
    assert summary["updates"] > saved.meta["updates"]


def _board(obs: np.ndarray) -> np.ndarray:
    """The board (+1 X, -1 O) an observation [27] shows, whoever is to move."""
    me = 1 if obs[18] > 0.5 else -1
    return me * obs[:9] - me * obs[9:18]


def test_a_symmetric_view_of_a_game_is_a_game_with_the_same_targets() -> None:
    rng = np.random.default_rng(0)
    replay = GameReplay(9, alpha=0.0)
    for _ in range(6):  # random games whose policy targets sit on the move played
        env = TicTacToe()
        obs, info = env.reset()
        g = replay.new_game(obs, info["legal"])
        while True:
            a = int(rng.choice(np.flatnonzero(info["legal"])))
            obs, r, term, _, info = env.step(a)
            replay.add(g, action=a, reward=r, obs=obs, legal=info["legal"], policy=np.eye(9)[a],
                       value=0.0, terminal=term, truncated=False)  # fmt: skip
            if term:
                break
    plan = replay.sample(64, 3, 9, 1.0, True, 1.0, rng)
    seen, policy = permute_plan(plan, plan.policy.copy(), SYMMETRIES, rng)
    assert not np.array_equal(seen.obs, plan.obs)  # 64 rows: some symmetry other than identity
    for row in range(64):
        board = _board(seen.obs[row])
        assert sorted(board) == sorted(_board(plan.obs[row]))
        for k in range(3):
            if not plan.policy_mask[row, k]:
                break
            a = seen.actions[row, k]
            assert policy[row, k].argmax() == a == seen.policy[row, k].argmax()
            assert board[a] == 0  # the moved action is legal on the moved board
            board[a] = 1 if (board != 0).sum() % 2 == 0 else -1
            # playing it gives the moved next observation, move after move
            np.testing.assert_array_equal(board, _board(seen.next_obs[row, k]))
    np.testing.assert_array_equal(seen.partial, plan.partial)
    np.testing.assert_array_equal(seen.reward, plan.reward)


def test_the_replay_window_draws_only_from_the_newest_games() -> None:
    replay = GameReplay(2, alpha=0.0, capacity=7)
    for _ in range(5):
        _game(replay, [0.0, 0.0, 1.0], terminal=True)  # 3 positions each
    drawn = {
        g for g, _ in replay.sample(200, 1, 1, 1.0, False, 1.0, np.random.default_rng(0)).positions
    }
    assert drawn == {3, 4}  # 6 positions fit in 7; a third game would not
    replay.capacity = 2  # smaller than a game: the newest game still trains
    drawn = {
        g for g, _ in replay.sample(50, 1, 1, 1.0, False, 1.0, np.random.default_rng(0)).positions
    }
    assert drawn == {4}


def test_symmetry_augmentation_on_a_game_without_symmetries_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "dreamlab.cli", "train", "muzero", "--env", "cartpole"]
    cmd += ["--preset", "small", "--runs", str(tmp_path), "--name", "mz"]
    cmd += ["--augment_symmetries", "true"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "augment_symmetries needs a board game with symmetries" in out.stderr
    assert "Traceback" not in out.stderr
