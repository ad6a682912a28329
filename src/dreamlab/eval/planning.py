"""Model-predictive control episodes: plan with a world model, act in the real environment, keep score.

Shared by ``dreamlab plan`` and benchmarks/planning.py. The world model is any WorldModel; with the
simulator-based model (``--model sim``) the planner sees the true dynamics, which makes these
episodes the reference every learned model is later compared with.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from dreamlab.envs import make_env
from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.planners import (
    ActionRepeat,
    ActionSpec,
    MPCAgent,
    cem,
    goal_objective,
    gradient_plan,
    mppi,
    random_shooting,
    reward_objective,
)
from dreamlab.protocols import WorldModel
from dreamlab.sim import SimulatorModel
from dreamlab.types import State
from dreamlab.viz.video import side_by_side, write_video

__all__ = [
    "PLAN_PRESETS",
    "EpisodeResult",
    "PlanSettings",
    "mpc_episode",
    "plan_settings",
    "plan_video",
]

PLANNERS: dict[str, Callable[..., Any]] = {
    "cem": cem,
    "mppi": mppi,
    "shooting": random_shooting,
    "gradient": gradient_plan,
}


@dataclass(frozen=True)
class PlanSettings:
    """How MPC plans: which planner, how far ahead, how many candidates, how often it replans."""

    planner: Literal["cem", "mppi", "shooting", "gradient"] = "cem"
    """The planner: cem, mppi, shooting (random shooting) or gradient (Adam through the model)."""
    horizon: int = 30
    """H: steps imagined per plan."""
    samples: int = 300
    """Candidate action sequences per iteration (starts, for the gradient planner)."""
    iterations: int = 5
    """Refinement iterations per plan."""
    elites: int = 30
    """CEM: candidates the next distribution is fitted to."""
    replan_every: int = 1
    """Execute this many actions of each plan before planning again."""
    action_repeat: int = 1
    """Hold each planned action for this many steps (the plan looks horizon x repeat steps ahead)."""
    noise_beta: float = 0.0
    """Temporal correlation of sampled actions: 0 white, 1 pink, 2 red noise."""
    init_std: float | None = None
    """Std of the first sampling distribution of each plan (None: a quarter of the action range)."""
    reduce: Literal["sum", "last"] = "sum"
    """Goal tasks: sum the distance to the goal over the horizon, or take the last step only."""
    max_steps: int = 200
    """Steps per episode."""


# Settings that reach the acceptance numbers on this machine (benchmarks/planning.py measures them).
PLAN_PRESETS: dict[str, PlanSettings] = {
    "Pendulum-v1": PlanSettings(
        planner="mppi", horizon=30, samples=300, iterations=5, max_steps=200
    ),
    # A reward of 1 per step alive says nothing until a fall is in sight: a long horizon is needed.
    "InvertedPendulum-v5": PlanSettings(
        planner="mppi", horizon=30, samples=64, iterations=2, replan_every=2, max_steps=1000
    ),
    # Distance summed over a long lookahead (50 decisions held 4 steps each) makes the detour through
    # the door pay; wide red-noise samples find it.
    "two-rooms": PlanSettings(
        planner="cem",
        horizon=50,
        action_repeat=4,
        samples=500,
        iterations=6,
        noise_beta=2.0,
        init_std=1.0,
        max_steps=200,
    ),
}


def plan_settings(env_name: str, **overrides: Any) -> PlanSettings:
    """The preset for an environment (defaults for others), with keyword overrides."""
    base = PLAN_PRESETS.get(env_name, PlanSettings())
    valid = set(PlanSettings.__dataclass_fields__)
    for key in overrides:
        if key not in valid:
            raise unknown_choice("plan setting", key, valid)
    return PlanSettings(**{**base.__dict__, **overrides})


@dataclass
class EpisodeResult:
    """One MPC episode: its return, length, success (goal tasks) and, when recorded, pictures."""

    ret: float
    steps: int
    success: bool | None
    frames: list[np.ndarray] = field(default_factory=list)  # real frames [Hh, W, 3] uint8
    imagined: list[list[np.ndarray]] = field(
        default_factory=list
    )  # per step: the plan's imagined frames


def _render(env: Any, env_name: str, draw: Callable[[], Any]) -> Any:
    """``draw()`` (a frame or frames); a missing offscreen OpenGL (MuJoCo on a headless machine)
    gets a clear error instead of the GL library's own."""
    try:
        return draw()
    except Exception as err:  # OpenGL backends raise their own error types
        if "mujoco" not in type(env.unwrapped).__module__:
            raise
        raise DreamlabError(
            f"cannot render {env_name} here ({type(err).__name__}); MuJoCo needs an offscreen OpenGL: "
            "apt-get install libosmesa6 and set MUJOCO_GL=osmesa, or plan with --no-video"
        ) from err


def _goal(env: Any, info: dict[str, Any]) -> torch.Tensor | None:
    goal = info.get("goal")
    return (
        None
        if goal is None
        else torch.as_tensor(np.asarray(goal), dtype=torch.float32).reshape(1, -1)
    )


def mpc_episode(
    env_name: str,
    settings: PlanSettings,
    seed: int,
    model: WorldModel | None = None,
    record: bool = False,
) -> EpisodeResult:
    """Run one episode of MPC in ``env_name`` planning with ``model`` (default: the simulator)."""
    env = make_env(env_name, render_mode="rgb_array") if record else make_env(env_name)
    sim = model if model is not None else SimulatorModel.for_env(env_name)
    if not hasattr(env.action_space, "low"):
        raise DreamlabError(
            f"MPC planners need a continuous (Box) action space; {env_name} has {env.action_space}"
        )
    spec = ActionSpec.from_space(env.action_space)
    obs, info = env.reset(seed=seed)
    # The simulator's reward is the task's own (Two-Rooms: minus the distance to the goal, summed
    # over the horizon, ending on arrival); a learned model without one plans to the goal state.
    goal = _goal(env, info)
    if goal is None or isinstance(sim, SimulatorModel):
        objective = reward_objective()
    else:
        objective = goal_objective(goal, reduce=settings.reduce)
    generator = torch.Generator().manual_seed(seed)
    planner = functools.partial(
        PLANNERS[settings.planner], **_planner_kwargs(settings), generator=generator
    )

    def capture(_obs: Any) -> State:
        return sim.capture(env)  # type: ignore[attr-defined]

    agent = MPCAgent(
        model=ActionRepeat(sim, settings.action_repeat) if settings.action_repeat > 1 else sim,
        objective=objective,
        planner=planner,
        horizon=settings.horizon,
        spec=spec,
        replan_every=settings.replan_every,
        encode=capture,
    )
    result = EpisodeResult(ret=0.0, steps=0, success=None if goal is None else False)
    carry, done = None, False
    while not done and result.steps < settings.max_steps:
        action, carry = agent.act(obs, carry)
        imagined = (
            _render(env, env_name, functools.partial(_imagined_frames, sim, carry))
            if record
            else []
        )
        for _ in range(settings.action_repeat):
            if record:
                result.frames.append(np.asarray(_render(env, env_name, env.render)))
                result.imagined.append(imagined)
            obs, reward, terminated, truncated, info = env.step(action)
            result.ret += float(reward)
            result.steps += 1
            if goal is not None and info.get("success"):
                result.success = True
            done = terminated or truncated or result.steps >= settings.max_steps
            if done:
                break
    if record:
        result.frames.append(np.asarray(_render(env, env_name, env.render)))
    env.close()
    return result


def _planner_kwargs(settings: PlanSettings) -> dict[str, Any]:
    if settings.planner == "gradient":
        return {"starts": settings.samples, "iterations": settings.iterations}
    kwargs: dict[str, Any] = {"samples": settings.samples, "iterations": settings.iterations}
    if settings.planner == "shooting":
        kwargs.pop("iterations")
        return kwargs
    kwargs["noise_beta"] = settings.noise_beta
    if settings.init_std is not None:
        kwargs["init_std"] = settings.init_std
    if settings.planner == "cem":
        kwargs["elites"] = settings.elites
    return kwargs


def _imagined_frames(model: Any, carry: Any) -> list[np.ndarray]:
    """The frames of the plan's imagined trajectory (states decoded by the model)."""
    trajectory = getattr(carry, "trajectory", None)
    if trajectory is None:
        return []
    states = trajectory.states  # tensors [1, H + 1, ...]
    flat = states.map(lambda t: t[0])  # [H + 1, ...]: the steps become the batch
    frames = model.decode(flat)
    return [np.asarray(f) for f in frames]


def plan_video(result: EpisodeResult, path: Path, fps: float = 15.0) -> Path:
    """Reality next to the plan: each real frame beside the plan made at that step, all its
    imagined frames overlaid in one picture, so the intended path is visible at a glance."""
    if not result.frames:
        raise DreamlabError("the episode was not recorded (run it with record=True)")
    real = result.frames[:-1] or result.frames
    plans = [_overlay(frames) if frames else np.zeros_like(real[0]) for frames in result.imagined]
    # Small frames (Two-Rooms is 65 px) are enlarged so that a person can see them.
    scale = max(1, 192 // real[0].shape[1])
    real = [_enlarge(frame, scale) for frame in real]
    plans = [_resize_like(_enlarge(plan, scale), real[0]) for plan in plans]
    columns = side_by_side([real, plans], ["reality", "imagined plan"])
    return write_video(path, columns, fps=fps)


def _enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    return image if scale == 1 else image.repeat(scale, axis=0).repeat(scale, axis=1)


def _overlay(frames: list[np.ndarray]) -> np.ndarray:
    """One picture of a whole imagined trajectory: frames [Hh, W, 3] -> [Hh, W, 3].

    The background is what most frames show at a pixel (the median); each pixel then shows the
    frame that differs most from it, later frames winning ties, so every imagined position appears.
    """
    stack = np.stack(frames).astype(np.float32)  # [H, Hh, W, 3]
    background = np.median(stack, axis=0)  # [Hh, W, 3]
    later = np.linspace(1.0, 1.01, len(frames), dtype=np.float32)[:, None, None]  # [H, 1, 1]
    distance = np.abs(stack - background).sum(-1) * later  # [H, Hh, W]
    pick = distance.argmax(axis=0)  # [Hh, W]
    picked = np.take_along_axis(stack, pick[None, :, :, None].repeat(3, axis=-1), axis=0)[0]
    return picked.astype(np.uint8)


def _resize_like(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    if image.shape == like.shape:
        return image
    size = (like.shape[1], like.shape[0])
    return np.asarray(
        Image.fromarray(image).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8
    )
