"""The World Models pipeline, each stage a resumable step of one run (Ha & Schmidhuber 2018, sec. 3-4).

    1. collect   random-policy rollouts of the real game            -> data/ (EpisodeStore)
    2. vae       V learns to compress every frame to z               -> checkpoints/vae/
    3. encode    every frame's mu and logvar under V                 -> latents.npz
    4. rnn       M learns P(z_{t+1}, done | z_t, a_t, h_t)           -> checkpoints/rnn/
    5. evolve    CMA-ES searches C, scored in the dream or for real  -> checkpoints/<controller>/
    6. evaluate  C plays the real game on fixed episodes             -> <controller>_eval.json

``stages.json`` records which stages are done and how long each took; a killed run resumes at the
stage it was in, from that stage's last checkpoint. M trains on whole episodes from their first frame
(cut at ``rnn_seq_len``), as the dream is played from the first frame, with z resampled from the stored
mu and sigma at every step (the paper's augmentation).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dreamlab.algos.ha_world_models.config import HaConfig
from dreamlab.algos.ha_world_models.dream import (
    DreamScenarios,
    dream_returns,
    num_params,
)
from dreamlab.algos.ha_world_models.model import (
    MDNRNN,
    ConvVAE,
    mdn_log_prob,
    vae_loss,
)
from dreamlab.algos.ha_world_models.rollouts import (
    env_action,
    make_game,
    real_returns,
    to_unit_frames,
)
from dreamlab.data.episodes import Episode, EpisodeBuilder, EpisodeStore
from dreamlab.errors import DreamlabError
from dreamlab.eval.results import spread
from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from dreamlab.train.config import config_from_dict
from dreamlab.train.files import atomic_write_bytes, atomic_write_text
from dreamlab.train.population import map_blocks, shutdown_workers
from dreamlab.train.progress import progress_bar
from dreamlab.train.run import MetricsLogger, RunDir, open_run
from dreamlab.train.seeding import numpy_rng_state, restore_numpy_rng
from dreamlab.train.torch_state import checkpoint_state, restore_state

__all__ = [
    "STAGES",
    "Latents",
    "collect",
    "encode",
    "evaluate",
    "evaluate_controller",
    "evolve",
    "load_controller",
    "load_models",
    "train",
    "train_rnn",
    "train_vae",
]

STAGES = ("collect", "vae", "encode", "rnn", "evolve", "evaluate")
EVAL_SEED = 1_000_000
"""Evaluation episodes use seeds EVAL_SEED + i, apart from every seed used in training."""


# ----------------------------------------------------------------------------- stage bookkeeping


def _stages(run: RunDir) -> dict[str, float]:
    path = run.path / "stages.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _mark_done(run: RunDir, stage: str, seconds: float) -> None:
    done = _stages(run)
    done[stage] = round(seconds, 1)
    atomic_write_text(run.path / "stages.json", json.dumps(done, indent=2) + "\n")


def suffix(round_: int) -> str:
    """Names of a round's files: "" for round 1, "_r2", "_r3", ... after it."""
    return "" if round_ == 1 else f"_r{round_}"


def latest_round(run: RunDir) -> int:
    """The last round whose M is trained (checkpoints/rnn, rnn_r2, ...)."""
    r = 1
    while latest_checkpoint(run.checkpoints / f"rnn{suffix(r + 1)}") is not None:
        r += 1
    return r


# ----------------------------------------------------------------------------- 1. collect


def _random_episode(env: Any, seed: int, cfg: HaConfig, builder: EpisodeBuilder) -> None:
    """The paper's Doom data policy: a uniform action in [-1, 1]^A held for 1..random_repeat frames."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    builder.start(obs)
    action = np.zeros(cfg.action_dim, np.float32)
    hold = 0
    for _ in range(cfg.max_frames):
        if hold == 0:
            action = rng.uniform(-1, 1, cfg.action_dim).astype(np.float32)
            hold = int(rng.integers(1, cfg.random_repeat + 1))
        hold -= 1
        # Stored as C would output it (what M reads); the env gets it mapped.
        obs, reward, terminated, truncated, _ = env.step(env_action(action, env.action_space))
        builder.add(action, obs, float(reward), terminated, truncated)
        if terminated or truncated:
            return


def collect(cfg: HaConfig, env_name: str, run: RunDir, round_: int = 1) -> int:
    """Stage 1: ``collect_episodes`` random rollouts into ``run/data``; from round 2 on,
    ``round_episodes`` rollouts of the last round's C into ``run/data_r<k>``. Resumes after the last
    stored episode."""
    name = f"data{suffix(round_)}"
    store = EpisodeStore.create(run.path / name, env_name, exist_ok=True, chunk_steps=5000)
    env = make_game(env_name, cfg)
    builder = EpisodeBuilder(env.action_space)
    total = cfg.collect_episodes if round_ == 1 else cfg.round_episodes
    if round_ > 1:
        vae, rnn = load_models(run, cfg, round_=round_ - 1)
        params = torch.as_tensor(load_controller(run, f"controller{suffix(round_ - 1)}"))[None]
    first = cfg.seed * 100_003 + 10_000 * (round_ - 1)
    with progress_bar(total, f"collect ({'random' if round_ == 1 else 'C + noise'})") as bar:
        bar.advance(len(store))
        i = len(store)
        while i < total:
            if round_ == 1:
                _random_episode(env, first + i, cfg, builder)
                store.add(builder.finish())
                i += 1
                bar.advance()
                continue
            # C's games side by side, V and M batched over them; stored in episode order
            seeds = list(range(first + i, first + min(total, i + cfg.eval_parallel)))
            games: dict[tuple[int, int], Episode] = {}
            real_returns(
                lambda: make_game(env_name, cfg), vae, rnn, params, seeds, cfg,
                cfg.eval_parallel, noise=cfg.round_noise, episodes=games,
            )  # fmt: skip
            for j in range(len(seeds)):
                store.add(games[(0, j)])
            i += len(seeds)
            bar.advance(len(seeds))
    store.close()
    env.close()
    return store.num_steps


def _frames(run: RunDir) -> np.ndarray:
    """Every stored frame, uint8 [N, 64, 64, 3]."""
    return np.concatenate([ep.obs for ep in EpisodeStore(run.path / "data")])


# ----------------------------------------------------------------------------- 2. V


def train_vae(cfg: HaConfig, run: RunDir, resume: bool) -> float:
    """Stage 2: V on random frames, Adam, batch ``vae_batch``; returns the last loss."""
    frames = _frames(run)
    torch.manual_seed(cfg.seed)  # before building V: its initial weights come from this seed
    vae = ConvVAE(cfg.z_size)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.vae_lr)
    folder = run.checkpoints / "vae"
    rng, step = np.random.default_rng([cfg.seed, 2]), 0
    if resume and latest_checkpoint(folder) is not None:
        ckpt = load_checkpoint(folder)
        restore_state(ckpt.tensors, ckpt.meta["optim"], {"vae": vae}, {"vae_opt": opt})
        rng, step = restore_numpy_rng(ckpt.meta["rng"]), ckpt.step
        torch.set_rng_state(ckpt.tensors["torch_rng"])
    loss = float("nan")
    with MetricsLogger(run) as log, progress_bar(cfg.vae_steps, "train V") as bar:
        bar.advance(step)
        while step < cfg.vae_steps:
            x = to_unit_frames(frames[rng.integers(0, len(frames), cfg.vae_batch)])
            recon, mu, logvar = vae(x)
            rec, kl = vae_loss(x, recon, mu, logvar, cfg.kl_tolerance)
            opt.zero_grad()
            (rec + kl).backward()
            opt.step()
            step += 1
            loss = rec.item() + kl.item()
            bar.advance()
            if step % 50 == 0:
                log.log(step, {"vae/reconstruction": rec.item(), "vae/kl": kl.item()})
                bar.status(f"rec {rec.item():.1f} kl {kl.item():.1f}")
            if step % 250 == 0 or step == cfg.vae_steps:
                tensors, optim = checkpoint_state({"vae": vae}, {"vae_opt": opt})
                tensors["torch_rng"] = torch.get_rng_state()
                meta = {"optim": optim, "rng": numpy_rng_state(rng)}
                save_checkpoint(folder, step, tensors, meta, keep=1)
    return loss


# ----------------------------------------------------------------------------- 3. encode


@dataclass(frozen=True)
class Latents:
    """V's view of the dataset, frames of all episodes concatenated.

    ``mu``, ``logvar`` [N, Z]; ``action`` [N, A] is the action taken at frame t (0 at an episode's
    last frame); ``done`` [N] marks frames where the episode ended by death; ``start``, ``length`` [E].
    """

    mu: np.ndarray
    logvar: np.ndarray
    action: np.ndarray
    done: np.ndarray
    start: np.ndarray
    length: np.ndarray

    @staticmethod
    def load(run: RunDir, rounds: int = 1) -> Latents:
        """Read ``run/latents.npz`` (and the later rounds' ``latents_r<k>.npz``, concatenated)."""
        parts = []
        for r in range(1, rounds + 1):
            with np.load(run.path / f"latents{suffix(r)}.npz") as data:
                parts.append({k: data[k] for k in Latents.__dataclass_fields__})
        joined = {k: np.concatenate([p[k] for p in parts]) for k in Latents.__dataclass_fields__}
        joined["start"] = np.concatenate([[0], np.cumsum(joined["length"])[:-1]])
        return Latents(**joined)


def encode(cfg: HaConfig, run: RunDir, round_: int = 1) -> int:
    """Stage 3: mu and logvar of every frame under V, with actions and deaths, to latents.npz
    (a later round's data to latents_r<k>.npz)."""
    vae = load_models(run, cfg, rnn=False)[0]
    mus, logvars, actions, dones, lengths = [], [], [], [], []
    store = EpisodeStore(run.path / f"data{suffix(round_)}")
    with torch.no_grad(), progress_bar(len(store), "encode") as bar:
        for ep in store:
            parts = [
                vae.encode(to_unit_frames(ep.obs[i : i + 500])) for i in range(0, len(ep), 500)
            ]
            mus.append(torch.cat([m for m, _ in parts]).numpy())
            logvars.append(torch.cat([lv for _, lv in parts]).numpy())
            # Episode rows hold a_{t-1}; M wants a_t, the action taken at frame t.
            act = np.zeros((len(ep), cfg.action_dim), np.float32)
            act[:-1] = np.asarray(ep.action[1:], np.float32).reshape(len(ep) - 1, -1)
            actions.append(act)
            dones.append(ep.is_terminal.copy())
            lengths.append(len(ep))
            bar.advance()
    length = np.array(lengths)
    latents = {
        "mu": np.concatenate(mus),
        "logvar": np.concatenate(logvars),
        "action": np.concatenate(actions),
        "done": np.concatenate(dones),
        "start": np.concatenate([[0], np.cumsum(length)[:-1]]),
        "length": length,
    }
    tmp = run.path / "latents.tmp.npz"
    np.savez(tmp, **latents)
    atomic_write_bytes(run.path / f"latents{suffix(round_)}.npz", tmp.read_bytes())
    tmp.unlink()
    return int(length.sum())


# ----------------------------------------------------------------------------- 4. M


def _rnn_batch(
    lat: Latents, episodes: np.ndarray, seq_len: int, rng: np.random.Generator
) -> tuple[torch.Tensor, ...]:
    """Episodes from their first frame, padded: z, a [B, L, .], next z [B, L, Z], done, mask [B, L]."""
    length = np.minimum(lat.length[episodes] - 1, seq_len)  # transitions used per episode
    steps = int(length.max())
    b, zs = len(episodes), lat.mu.shape[1]
    index = lat.start[episodes][:, None] + np.minimum(np.arange(steps + 1)[None], length[:, None])
    mu, logvar = lat.mu[index], lat.logvar[index]  # [B, L+1, Z]
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal((b, steps + 1, zs))
    mask = np.arange(steps)[None] < length[:, None]  # [B, L]
    done = lat.done[index[:, 1:]] & mask
    as_t = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    return (
        as_t(z[:, :-1]),
        as_t(lat.action[index[:, :-1]]),
        as_t(z[:, 1:]),
        as_t(done),
        as_t(mask),
    )


def train_rnn(cfg: HaConfig, run: RunDir, resume: bool, round_: int = 1) -> float:
    """Stage 4: M by maximum likelihood of the next z (and BCE on done), Adam with gradient clipping.
    From round 2 on, the last round's M goes on learning from all data so far."""
    lat = Latents.load(run, round_)
    usable = np.flatnonzero(lat.length > 1)
    torch.manual_seed(cfg.seed)  # before building M: its initial weights come from this seed
    rnn = MDNRNN(cfg)
    if round_ > 1:
        rnn = load_models(run, cfg, round_=round_ - 1)[1].train()
    opt = torch.optim.Adam(rnn.parameters(), lr=cfg.rnn_lr)
    folder = run.checkpoints / f"rnn{suffix(round_)}"
    total_steps = cfg.rnn_steps if round_ == 1 else cfg.round_rnn_steps
    rng, step = np.random.default_rng([cfg.seed, 4, round_]), 0
    if resume and latest_checkpoint(folder) is not None:
        ckpt = load_checkpoint(folder)
        restore_state(ckpt.tensors, ckpt.meta["optim"], {"rnn": rnn}, {"rnn_opt": opt})
        rng, step = restore_numpy_rng(ckpt.meta["rng"]), ckpt.step
    loss = float("nan")
    with MetricsLogger(run) as log, progress_bar(total_steps, "train M") as bar:
        bar.advance(step)
        while step < total_steps:
            episodes = rng.choice(usable, size=min(cfg.rnn_batch, len(usable)), replace=False)
            z, a, z_next, done, mask = _rnn_batch(lat, episodes, cfg.rnn_seq_len, rng)
            out, _ = rnn(z, a)
            weight = mask / mask.sum()
            nll = -(mdn_log_prob(out, z_next).mean(dim=-1) * weight).sum()
            total = nll
            done_loss = torch.zeros(())
            if out.done_logit is not None:
                bce = F.binary_cross_entropy_with_logits(
                    out.done_logit, done, reduction="none", pos_weight=torch.tensor(cfg.done_weight)
                )
                done_loss = (bce * weight).sum()
                total = nll + done_loss
            opt.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(rnn.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            loss = total.item()
            bar.advance()
            if step % 10 == 0:
                key = f"rnn{suffix(round_)}"
                log.log(step, {f"{key}/nll": nll.item(), f"{key}/done_bce": done_loss.item()})
                bar.status(f"nll {nll.item():.3f} done {done_loss.item():.4f}")
            if step % 50 == 0 or step == total_steps:
                tensors, optim = checkpoint_state({"rnn": rnn}, {"rnn_opt": opt})
                meta = {"optim": optim, "rng": numpy_rng_state(rng)}
                save_checkpoint(folder, step, tensors, meta, keep=1)
    return loss


def load_models(
    run: RunDir, cfg: HaConfig, rnn: bool = True, round_: int | None = None
) -> tuple[ConvVAE, MDNRNN]:
    """The run's trained V (and M of round ``round_``, default the latest), in eval mode."""
    vae, model = ConvVAE(cfg.z_size), MDNRNN(cfg)
    restore_state(load_checkpoint(run.checkpoints / "vae").tensors, {}, {"vae": vae})
    if rnn:
        folder = run.checkpoints / f"rnn{suffix(round_ or latest_round(run))}"
        restore_state(load_checkpoint(folder).tensors, {}, {"rnn": model})
    return vae.eval(), model.eval()


# ----------------------------------------------------------------------------- 5. C by CMA-ES


@dataclass(frozen=True)
class _Shared:
    """What every population block needs: the config, the weights and (real) the env name."""

    cfg: HaConfig
    vae: dict[str, torch.Tensor]
    rnn: dict[str, torch.Tensor]
    env_name: str


def _build(shared: _Shared) -> tuple[ConvVAE, MDNRNN]:
    vae, rnn = ConvVAE(shared.cfg.z_size), MDNRNN(shared.cfg)
    vae.load_state_dict(shared.vae)
    rnn.load_state_dict(shared.rnn)
    return vae.eval(), rnn.eval()


def dream_block(shared: _Shared, block: tuple[np.ndarray, DreamScenarios]) -> np.ndarray:
    """Scores [P_block, N] of a block of candidates in the dream (a population task)."""
    params, scenarios = block
    _, rnn = _build(shared)
    x = torch.as_tensor(params, dtype=torch.float32)
    return dream_returns(
        rnn, x, scenarios, shared.cfg, shared.cfg.temperature, shared.cfg.max_frames
    )


def real_block(shared: _Shared, block: tuple[np.ndarray, list[int]]) -> np.ndarray:
    """Scores [P_block, N] of a block of candidates in the real env (a population task)."""
    params, seeds = block
    vae, rnn = _build(shared)
    cfg = shared.cfg
    x = torch.as_tensor(params, dtype=torch.float32)

    return real_returns(
        lambda: make_game(shared.env_name, cfg), vae, rnn, x, seeds, cfg, cfg.eval_parallel
    )


def _scenarios(
    lat: Latents, cfg: HaConfig, generation: int, trials: int, salt: int
) -> DreamScenarios:
    """Dream starts of one generation: first frames of random real episodes, z ~ N(mu, sigma)."""
    rng = np.random.default_rng([cfg.seed, 5, salt, generation])
    first = lat.start[rng.integers(0, len(lat.start), trials)]
    z0 = lat.mu[first] + np.exp(0.5 * lat.logvar[first]) * rng.standard_normal(
        (trials, lat.mu.shape[1])
    )
    return DreamScenarios(torch.as_tensor(z0, dtype=torch.float32), int(rng.integers(2**62)))


def population_scores(
    cfg: HaConfig,
    shared: _Shared,
    candidates: np.ndarray,
    generation: int,
    trials: int,
    salt: int = 0,
    latents: Latents | None = None,
) -> np.ndarray:
    """Scores [P, trials] of candidates [P, n] for one generation, block by block (here or on Ray)."""
    starts = range(0, len(candidates), cfg.block)
    if cfg.train_in == "dream":
        if latents is None:
            raise DreamlabError("dream scoring needs the run's latents")
        scen = _scenarios(latents, cfg, generation, trials, salt)
        blocks_d = [(candidates[s : s + cfg.block], scen) for s in starts]
        parts = map_blocks(dream_block, shared, blocks_d, cfg.workers, cfg.ray_address)
    else:
        rng = np.random.default_rng([cfg.seed, 6, salt, generation])
        seeds = [int(s) for s in rng.integers(0, EVAL_SEED, trials)]
        blocks_r = [(candidates[s : s + cfg.block], seeds) for s in starts]
        parts = map_blocks(real_block, shared, blocks_r, cfg.workers, cfg.ray_address)
    return np.concatenate(parts)


def _shared(run: RunDir, cfg: HaConfig, env_name: str) -> _Shared:
    vae, rnn = load_models(run, cfg)
    return _Shared(cfg, vae.state_dict(), rnn.state_dict(), env_name)


def evolve(
    cfg: HaConfig, env_name: str, run: RunDir, resume: bool, name: str = "controller"
) -> dict[str, Any]:
    """Stage 5: CMA-ES over C's parameters (population ``population``, fitness = mean of ``trials``).

    Every 10 generations and at the end, the generation's best candidate and the CMA-ES mean are
    re-scored on 4x ``trials`` fresh scenarios; the best re-score is the controller kept.
    """
    import cma

    lat = Latents.load(run) if cfg.train_in == "dream" else None
    shared = _shared(run, cfg, env_name)
    folder = run.checkpoints / name
    n = num_params(cfg)
    np.random.seed(cfg.seed % 2**32)  # cma samples from numpy's global generator
    es = cma.CMAEvolutionStrategy(
        np.zeros(n),
        cfg.sigma_init,
        {"popsize": cfg.population, "seed": cfg.seed + 1, "verbose": -9},
    )
    best, best_score, generation = np.zeros(n), -np.inf, 0
    if resume and latest_checkpoint(folder) is not None:
        ckpt = load_checkpoint(folder)
        es = pickle.loads(ckpt.tensors["es"].numpy().tobytes())  # written by this function only
        np.random.set_state(("MT19937", ckpt.tensors["np_key"].numpy(), *ckpt.meta["np_rest"]))
        best, best_score = ckpt.tensors["best"].numpy().astype(np.float64), ckpt.meta["best_score"]
        generation = ckpt.step
    label = f"evolve C in the {cfg.train_in}" + (
        f" tau={cfg.temperature}" if cfg.train_in == "dream" else ""
    )
    with MetricsLogger(run) as log, progress_bar(cfg.generations, label) as bar:
        bar.advance(generation)
        while generation < cfg.generations:
            candidates = np.asarray(es.ask())
            scores = population_scores(cfg, shared, candidates, generation, cfg.trials, latents=lat)
            fitness = scores.mean(axis=1)
            es.tell(list(candidates), list(-fitness))  # cma minimises
            generation += 1
            stats = {
                f"{name}/mean": float(fitness.mean()),
                f"{name}/best": float(fitness.max()),
                f"{name}/worst": float(fitness.min()),
                f"{name}/sigma": float(es.sigma),
            }
            if generation % 10 == 0 or generation == cfg.generations:
                pair = np.stack([candidates[int(fitness.argmax())], np.asarray(es.mean)])
                rescored = population_scores(
                    cfg, shared, pair, generation, 4 * cfg.trials, salt=1, latents=lat
                ).mean(axis=1)
                stats[f"{name}/rescored"] = float(rescored.max())
                if rescored.max() > best_score:
                    best, best_score = pair[int(rescored.argmax())], float(rescored.max())
            log.log(generation, stats)
            bar.advance()
            bar.status(f"mean {fitness.mean():.0f} best {fitness.max():.0f} kept {best_score:.0f}")
            state = np.random.get_state()
            tensors = {
                "es": np.frombuffer(pickle.dumps(es), dtype=np.uint8).copy(),
                "np_key": np.asarray(state[1]),
                "best": best.astype(np.float32),
            }
            meta = {
                "np_rest": [int(state[2]), int(state[3]), float(state[4])],
                "best_score": best_score,
            }
            save_checkpoint(folder, generation, tensors, meta, keep=1)
    shutdown_workers()
    return {f"{name}/dream_score" if cfg.train_in == "dream" else f"{name}/score": best_score}


def load_controller(run: RunDir, name: str = "controller") -> np.ndarray:
    """The kept controller's flat parameters [n]."""
    return load_checkpoint(run.checkpoints / name).tensors["best"].numpy()


# ----------------------------------------------------------------------------- 6. evaluate


def evaluate_controller(
    cfg: HaConfig, env_name: str, run: RunDir, params: np.ndarray, episodes: int
) -> np.ndarray:
    """Real scores [episodes] of one controller on the fixed evaluation episodes, in blocks of
    ``eval_parallel`` episodes (here or on Ray workers, as the population)."""
    shared = _shared(run, cfg, env_name)
    seeds = [EVAL_SEED + i for i in range(episodes)]
    x = np.asarray(params, np.float64).reshape(1, -1)
    step = max(1, cfg.eval_parallel)
    blocks = [(x, seeds[s : s + step]) for s in range(0, episodes, step)]
    parts = map_blocks(real_block, shared, blocks, cfg.workers, cfg.ray_address)
    return np.concatenate(parts, axis=1)[0]


def evaluate_stage(
    cfg: HaConfig, env_name: str, run: RunDir, name: str = "controller", episodes: int | None = None
) -> dict[str, Any]:
    """Stage 6: the kept controller on ``eval_episodes`` real episodes -> ``<name>_eval.json``."""
    scores = evaluate_controller(
        cfg, env_name, run, load_controller(run, name), episodes or cfg.eval_episodes
    )
    result = {
        "real_return": spread(scores.tolist()),
        "returns": scores.tolist(),
        "tau": cfg.temperature,
    }
    atomic_write_text(run.path / f"{name}_eval.json", json.dumps(result, indent=2) + "\n")
    shutdown_workers()
    return result


# ----------------------------------------------------------------------------- the whole run


def _round_cfg(cfg: HaConfig, round_: int) -> HaConfig:
    """The config CMA-ES runs with in a round: later rounds may evolve for fewer generations."""
    if round_ == 1 or cfg.round_generations <= 0:
        return cfg
    return replace(cfg, generations=cfg.round_generations)


def train(cfg: HaConfig, env_name: str, run: RunDir, resume: bool = False) -> dict[str, Any]:
    """All six stages in order, then ``rounds - 1`` more rounds of collect (with C), encode, M, C
    and evaluate (Ha & Schmidhuber's iterative training), skipping what ``stages.json`` marks done."""
    torch.set_num_threads(cfg.threads)
    game = make_game(env_name, cfg)
    shape = game.action_space.shape
    game.close()
    if shape != (cfg.action_dim,):
        raise DreamlabError(
            f"{env_name} takes actions of shape {shape}, the config has action_dim {cfg.action_dim}; "
            "use --preset doom for DoomTakeCover, --preset carracing for CarRacing-v3"
        )
    for k in range(1, cfg.rounds + 1):
        name = f"controller{suffix(k)}"
        steps: dict[str, Callable[[bool], Any]] = {
            "collect": lambda r, k=k: collect(cfg, env_name, run, k),
            "vae": lambda r: train_vae(cfg, run, r),
            "encode": lambda r, k=k: encode(cfg, run, k),
            "rnn": lambda r, k=k: train_rnn(cfg, run, r, k),
            "evolve": lambda r, name=name, k=k: evolve(_round_cfg(cfg, k), env_name, run, r, name),
            "evaluate": lambda r, name=name: evaluate_stage(cfg, env_name, run, name=name),
        }
        for stage in STAGES:
            if (stage == "vae" and k > 1) or f"{stage}{suffix(k)}" in _stages(run):
                continue
            t0 = time.time()
            steps[stage](resume)
            _mark_done(run, f"{stage}{suffix(k)}", time.time() - t0)
    result = json.loads((run.path / f"controller{suffix(cfg.rounds)}_eval.json").read_text())
    return {
        "eval/return": result["real_return"]["mean"],
        "eval/return_std": result["real_return"]["std"],
        "stage_seconds": _stages(run),
    }


def evaluate(run: RunDir, episodes: int) -> dict[str, Any]:
    """``dreamlab eval RUN``: the kept controller on ``episodes`` fixed real episodes."""
    _, saved = open_run(run.path)
    cfg = config_from_dict(HaConfig, saved["config"])
    torch.set_num_threads(cfg.threads)
    name = f"controller{suffix(latest_round(run))}"
    result = evaluate_stage(cfg, saved["env"], run, name=name, episodes=episodes)
    return {
        "eval/return": result["real_return"]["mean"],
        "eval/return_std": result["real_return"]["std"],
    }
