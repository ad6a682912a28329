"""``dreamlab dream RUN``: DreamerV3's open-loop imagination next to reality.

The trained policy plays one real episode. The RSSM filters the first ``context`` observations
(posterior), then predicts the rest open loop through the prior, fed only the actions that were
taken; the decoder renders both. Image observations give ``RUN/videos/imagination.gif`` with three
columns: the real frame, the reconstruction from the posterior (what the model sees), and the
open-loop prediction (what it imagines, identical to the reconstruction during the context).
Vector observations give ``RUN/videos/imagination.png``: each observation dimension over time,
real against imagined, the context shaded.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from dreamlab.algos.dreamer.networks import Latent
from dreamlab.envs import make_env
from dreamlab.train.run import RunDir
from dreamlab.viz.plots import save_figure
from dreamlab.viz.video import side_by_side, write_video

__all__ = ["imagination", "imagination_video"]


@torch.no_grad()
def imagination(
    model: Any, frames: int, context: int, seed: int, action_repeat: int = 1
) -> dict[str, np.ndarray]:
    """One real episode of up to ``frames`` steps with its reconstruction and open-loop prediction:
    arrays ``real``, ``recon`` and ``open_loop`` [T, ...] in the observation's units (uint8 frames
    for images)."""
    from dreamlab.algos.dreamer.train import Policy, _env_action, _step_env

    info = model.info
    env = make_env(info.name, pixels=info.pixels)
    obs, _ = env.reset(seed=seed)
    policy = Policy(model, 1)
    real, actions = [np.asarray(obs)], [torch.zeros(info.action_dim)]
    first = np.ones(1, bool)
    for _ in range(frames - 1):
        vec = policy(np.asarray(obs)[None], first, mode=True)[0]
        first[:] = False
        obs, _, term, trunc = _step_env(env, _env_action(info, vec), action_repeat)
        real.append(np.asarray(obs))
        actions.append(vec)
        if term or trunc:
            break
    env.close()
    obs_t = torch.as_tensor(np.stack(real))[None]  # [1, T, ...]
    act_t = torch.stack(actions)[None]  # [1, T, A]
    is_first = torch.zeros(1, len(real), dtype=torch.bool)
    is_first[0, 0] = True
    embed = model.encoder(obs_t[0]).unsqueeze(0)  # [1, T, E]
    post, _ = model.rssm.observe(embed, act_t, is_first, model.rssm.initial(1))
    recon = model.decoder(post.features()[0])  # [T, ...]
    state = Latent(
        post.deter[:, context - 1], post.stoch[:, context - 1], post.logits[:, context - 1]
    )
    feats = [post.features()[0, t] for t in range(context)]
    for t in range(context, len(real)):
        state = model.rssm.img_step(state, act_t[:, t])
        feats.append(state.features()[0])
    open_loop = model.decoder(torch.stack(feats))
    if info.image:

        def to_frames(x: torch.Tensor) -> np.ndarray:
            return ((x + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).numpy()

        return {
            "real": np.stack(real),
            "recon": to_frames(recon),
            "open_loop": to_frames(open_loop),
        }
    return {"real": np.stack(real), "recon": recon.numpy(), "open_loop": open_loop.numpy()}


def imagination_video(run: RunDir, frames: int = 100, seed: int = 0) -> dict[str, Any]:
    """Write the picture of the module docstring for a trained run; returns its path."""
    from dreamlab.algos.dreamer.train import load_model

    model = load_model(run)
    context = min(5, frames)
    out = imagination(model, frames, context, seed, model.cfg.action_repeat)
    run.videos.mkdir(parents=True, exist_ok=True)
    steps = len(out["real"])
    if model.info.image:
        cols = [list(out["real"]), list(out["recon"]), list(out["open_loop"])]
        path = write_video(
            run.videos / "imagination.gif",
            side_by_side(cols, ["real", "reconstruction", f"imagined after {context}"]),
            fps=10,
        )
        error = float(
            np.abs(out["open_loop"][context:] / 255.0 - out["real"][context:] / 255.0).mean()
        )
    else:
        dims = out["real"].shape[1]
        fig, axes = plt.subplots(dims, 1, figsize=(8, 1.8 * dims), sharex=True, squeeze=False)
        for d, ax in enumerate(axes[:, 0]):
            ax.plot(out["real"][:, d], "k", label="real")
            ax.plot(out["open_loop"][:, d], "C1--", label="imagined (open loop)")
            ax.axvspan(0, context - 1, color="0.9", label="context")
            ax.set_ylabel(f"obs[{d}]")
        axes[0, 0].legend(fontsize=7, loc="upper right")
        axes[-1, 0].set_xlabel("step")
        fig.suptitle(f"DreamerV3 on {model.info.name}: {context} steps observed, then imagined")
        path = save_figure(fig, run.videos / "imagination.png")
        error = float(np.abs(out["open_loop"][context:] - out["real"][context:]).mean())
    return {"path": str(path), "steps": steps, "context": context, "open_loop_mae": error}
