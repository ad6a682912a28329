"""``dreamlab dream RUN``: what V sees, what M dreams, and C playing inside the dream.

Two videos in ``RUN/videos/``:

- ``real_recon_dream.gif``: a real episode played by C (a random policy before C exists), next to
  V's reconstruction of each frame, next to M's dream of the same episode: started from the first
  frame's z, fed the real actions, each next z sampled at the run's temperature, decoded by V.
- ``controller_in_dream.gif``: C acting inside the dream from a real first frame, until M's done
  head ends the episode or ``frames`` frames pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dreamlab.algos.ha_world_models.config import HaConfig
from dreamlab.algos.ha_world_models.dream import controller_act
from dreamlab.algos.ha_world_models.model import (
    controller_features,
    done_probability,
    sample_mdn,
)
from dreamlab.algos.ha_world_models.rollouts import env_action, make_game, to_unit_frames
from dreamlab.train.config import config_from_dict
from dreamlab.train.run import RunDir, open_run
from dreamlab.viz.video import side_by_side, write_video

__all__ = ["dream_videos"]


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """[B, 3, 64, 64] in [0, 1] -> [B, 64, 64, 3] uint8."""
    return (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def _scale(frames: list[np.ndarray], factor: int = 2) -> list[np.ndarray]:
    return [f.repeat(factor, axis=0).repeat(factor, axis=1) for f in frames]


def _act(
    params: torch.Tensor | None,
    z: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    cfg: HaConfig,
    rng: np.random.Generator,
) -> torch.Tensor:
    """C's action [1, A] for one step, or a uniform random one when there is no controller yet."""
    if params is None:
        return torch.as_tensor(rng.uniform(-1, 1, (1, cfg.action_dim)), dtype=torch.float32)
    return controller_act(params[None], controller_features(z, h, c, cfg)[None], cfg)[0]


def dream_videos(
    run: RunDir, frames: int = 300, seed: int = 0, controller: str | None = None
) -> dict[str, Any]:
    """Write the two videos of the module docstring; returns their paths and episode lengths."""
    from dreamlab.algos.ha_world_models.train import (
        latest_round,
        load_controller,
        load_models,
        suffix,
    )

    _, saved = open_run(run.path)
    cfg = config_from_dict(HaConfig, saved["config"])
    env_name = saved["env"]
    vae, rnn = load_models(run, cfg)
    controller = controller or f"controller{suffix(latest_round(run))}"
    params: torch.Tensor | None = None
    if (run.checkpoints / controller).is_dir():
        params = torch.as_tensor(load_controller(run, controller), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = make_game(env_name, cfg)
    hs = cfg.rnn_hidden
    with torch.no_grad():
        # 1. reality, V's reconstruction and M's open-loop dream under the same actions
        obs, _ = env.reset(seed=seed)
        real, actions = [obs], []
        h, c = torch.zeros(1, hs), torch.zeros(1, hs)
        for _ in range(frames):
            z, _ = vae.encode(to_unit_frames(obs[None]))
            a = _act(params, z, h, c, cfg, rng)
            _, (h1, c1) = rnn(z[:, None], a[:, None], (h[None], c[None]))
            h, c = h1[0], c1[0]
            obs, _, terminated, truncated, _ = env.step(env_action(a[0].numpy(), env.action_space))
            real.append(obs)
            actions.append(a)
            if terminated or truncated:
                break
        env.close()
        recon = _to_uint8(vae.decode(vae.encode(to_unit_frames(np.stack(real)))[0]))
        z = vae.encode(to_unit_frames(real[0][None]))[0]
        h, c = torch.zeros(1, hs), torch.zeros(1, hs)
        dreamt = [vae.decode(z)]
        for a in actions:
            out, (h1, c1) = rnn(z[:, None], a[:, None], (h[None], c[None]))
            h, c = h1[0], c1[0]
            z = sample_mdn(out, cfg.temperature, gen)[:, 0]
            dreamt.append(vae.decode(z))
        dream_frames = list(_to_uint8(torch.cat(dreamt)))
        first = side_by_side(
            [_scale(real), _scale(list(recon)), _scale(dream_frames)],
            ["real", "V reconstruction", f"M dream (tau {cfg.temperature:g})"],
        )
        path1 = write_video(run.videos / "real_recon_dream.gif", first, fps=15)

        # 2. C inside the dream, from a real first frame
        z = vae.encode(to_unit_frames(real[0][None]))[0]
        h, c = torch.zeros(1, hs), torch.zeros(1, hs)
        inside, done_at = [vae.decode(z)], frames
        for t in range(frames):
            a = _act(params, z, h, c, cfg, rng)
            out, (h1, c1) = rnn(z[:, None], a[:, None], (h[None], c[None]))
            h, c = h1[0], c1[0]
            z = sample_mdn(out, cfg.temperature, gen)[:, 0]
            inside.append(vae.decode(z))
            done = out.done_logit
            u = torch.rand((), generator=gen)
            if done is not None and u < done_probability(done[0, 0], cfg.done_weight):
                done_at = t + 1
                break
        label = "C in the dream" if params is not None else "random policy in the dream"
        second = side_by_side([_scale(list(_to_uint8(torch.cat(inside))))], [label])
        path2 = write_video(run.videos / "controller_in_dream.gif", second, fps=15)
    return {
        "real_recon_dream": str(path1),
        "controller_in_dream": str(path2),
        "real_frames": len(real) - 1,
        "dream_frames": done_at,
    }
