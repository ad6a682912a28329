"""The ``dreamlab`` command: list, train, eval, collect, plan, dream and demo.

Every user error (an unknown system, environment, preset or option, a bad run folder) ends in one
line ``dreamlab: <problem>`` on stderr and exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.train.system import SystemSpec

__all__ = ["SYSTEMS", "get_system", "main"]

# The registry: system name -> module that defines SYSTEM. The only place that imports algos/*.
SYSTEMS: dict[str, str] = {
    "dyna": "dreamlab.algos.dyna",
    "world_models": "dreamlab.algos.ha_world_models",
    "muzero": "dreamlab.algos.muzero",
    "dreamer": "dreamlab.algos.dreamer",
    "ijepa": "dreamlab.algos.ijepa",
    "jepa_wm": "dreamlab.algos.jepa_wm",
    "vjepa": "dreamlab.algos.vjepa",
}
DEMO_SYSTEM = "jepa_wm"
"""The system ``dreamlab demo`` runs unless ``--system`` names another one that has a demo."""


def get_system(name: str) -> SystemSpec:
    """The SystemSpec of a registered system, or a one-line error listing the valid names."""
    if name not in SYSTEMS:
        raise unknown_choice("system", name, SYSTEMS)
    spec: SystemSpec = importlib.import_module(SYSTEMS[name]).SYSTEM
    return spec


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (raised, printed by ``main``) instead of usage dumps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: "--n 5" must reach the config's overrides, not match "--name".
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise DreamlabError(
            f"{self.prog.removeprefix('dreamlab ')}: {message}".removeprefix("dreamlab: ")
        )


def _parser() -> _Parser:
    p = _Parser(prog="dreamlab", description="World models of every paradigm, on a laptop CPU.")
    sub = p.add_subparsers(
        dest="verb", metavar="{list,train,eval,collect,plan,dream,demo}", parser_class=_Parser
    )

    sub.add_parser("list", help="systems, presets and environments")

    t = sub.add_parser(
        "train",
        help="train a system: dreamlab train SYSTEM --env ENV [--preset P] [--FIELD VALUE ...]",
        add_help=False,
    )
    t.add_argument("system", nargs="?", help="system to train (see dreamlab list)")
    t.add_argument("--env", help="environment: a dreamlab name or any gymnasium id")
    t.add_argument("--preset", help="named preset of the system's config")
    t.add_argument(
        "--runs", default="runs", help="folder that holds run directories (default runs)"
    )
    t.add_argument("--name", help="run directory name (default SYSTEM-ENV-TIME)")
    t.add_argument("--resume", metavar="RUN", help="continue a killed run from its last checkpoint")
    t.add_argument("-h", "--help", action="store_true", help="show the system's options")

    e = sub.add_parser("eval", help="evaluate a trained run: dreamlab eval RUN")
    e.add_argument("run", help="run directory")
    e.add_argument(
        "--episodes", type=int, default=None, help="evaluation episodes (default: config)"
    )

    c = sub.add_parser(
        "collect", help="write episodes to an on-disk store: dreamlab collect ENV --episodes N"
    )
    c.add_argument("env", help="environment: a dreamlab name or any gymnasium id")
    c.add_argument("--episodes", type=int, required=True, help="number of episodes")
    c.add_argument("--out", help="store folder (default data/ENV)")
    c.add_argument(
        "--policy", default="random", help="'random' or a run directory whose policy acts"
    )
    c.add_argument(
        "--seed", type=int, default=0, help="seed of the environment and the random policy"
    )
    c.add_argument(
        "--max-steps", type=int, default=None, help="truncate episodes at this many steps"
    )
    c.add_argument("--pixels", action="store_true", help="store 64x64 uint8 frames as observations")

    pl = sub.add_parser(
        "plan",
        help="plan with a world model and act: dreamlab plan --model sim --env ENV [--SETTING VALUE]",
        add_help=False,
    )
    pl.add_argument("--model", default="sim", help="'sim': the true simulator as the world model")
    pl.add_argument("--env", help="environment with a continuous action space (see dreamlab list)")
    pl.add_argument("--episodes", type=int, default=1, help="episodes (seeds seed .. seed+N-1)")
    pl.add_argument("--seed", type=int, default=0, help="first episode's seed")
    pl.add_argument("--out", default="plans", help="folder for the episode videos (default plans)")
    pl.add_argument("--no-video", action="store_true", help="skip the video (faster)")
    pl.add_argument("-h", "--help", action="store_true", help="show the planning options")

    dr = sub.add_parser(
        "dream", help="write a trained run's dream videos: dreamlab dream RUN [--frames N]"
    )
    dr.add_argument("run", help="run directory")
    dr.add_argument(
        "--frames", type=int, default=300, help="longest video, in frames (default 300)"
    )
    dr.add_argument("--seed", type=int, default=0, help="seed of the real episode and of the dream")

    d = sub.add_parser("demo", help="train a world model in minutes, then watch it dream and plan")
    d.add_argument("--out", default="demo", help="folder for the pictures (default demo)")
    d.add_argument(
        "--system",
        default=DEMO_SYSTEM,
        help=f"whose demo: {DEMO_SYSTEM} (a JEPA plans to a goal image, minutes) or dyna (seconds)",
    )
    return p


def _cmd_list() -> None:
    from dreamlab.envs import describe_envs

    print("systems (dreamlab train SYSTEM --env ENV [--preset P]):")
    for name in SYSTEMS:
        spec = get_system(name)
        print(f"  {name:<12} [{spec.paradigm}] {spec.description}")
        print(f"  {'':<12} presets: {', '.join(spec.presets)}; envs: {', '.join(spec.envs)}")
    print("environments (dreamlab's own; any gymnasium id works too):")
    for env_name, description in describe_envs():
        print(f"  {env_name:<16} {description}")


def _cmd_train(args: argparse.Namespace, rest: list[str]) -> None:
    from dreamlab.envs import make_env
    from dreamlab.train.config import (
        apply_overrides,
        config_from_dict,
        config_help,
        config_to_dict,
        resolve_preset,
    )
    from dreamlab.train.run import create_run, open_run

    if args.resume:
        if args.system or args.env or args.preset or rest:
            raise DreamlabError(
                "--resume RUN takes the run's own config; give no system, env, preset or options"
            )
        run, saved = open_run(Path(args.resume))
        spec = get_system(saved["system"])
        cfg: Any = config_from_dict(spec.config, saved["config"])
        env = saved["env"]
    else:
        if not args.system:
            raise DreamlabError(
                f"train needs a SYSTEM, one of: {', '.join(SYSTEMS)} (dreamlab train SYSTEM --env ENV)"
            )
        spec = get_system(args.system)
        if args.help:
            print(f"dreamlab train {spec.name} --env ENV [--preset P] [options]\n")
            print(config_help(spec.config, spec.presets))
            return
        cfg = resolve_preset(spec.presets, args.preset) if args.preset else spec.config()
        cfg = apply_overrides(cfg, rest)
        env = args.env or spec.default_env
        if spec.datasets:
            if env not in spec.datasets:
                raise unknown_choice(f"{spec.name} data set", env, spec.datasets)
        else:
            make_env(env).close()  # fail on a bad environment before anything is written
        run = create_run(Path(args.runs), spec.name, env, config_to_dict(cfg), name=args.name)
    print(f"{'resuming' if args.resume else 'training'} {spec.name} on {env} in {run.path}")
    summary = spec.train(cfg, env, run, bool(args.resume))
    _print_summary(summary)


def _cmd_eval(args: argparse.Namespace) -> None:
    from dreamlab.train.run import open_run

    run, saved = open_run(Path(args.run))
    spec = get_system(saved["system"])
    episodes = (
        args.episodes
        if args.episodes is not None
        else int(saved["config"].get("eval_episodes", 10))
    )
    if episodes < 1:
        raise DreamlabError(f"--episodes must be at least 1, got {episodes}")
    metrics = spec.evaluate(run, episodes)
    from dreamlab.train.files import atomic_write_text

    atomic_write_text(run.path / "eval.json", json.dumps(metrics, indent=2) + "\n")
    _print_summary(metrics)
    print(f"written to {run.path / 'eval.json'}")


def _cmd_collect(args: argparse.Namespace) -> None:
    from dreamlab.data import EpisodeStore, collect
    from dreamlab.envs import make_env

    if args.episodes < 1:
        raise DreamlabError(f"--episodes must be at least 1, got {args.episodes}")
    policy = None
    if args.policy != "random":
        from dreamlab.train.run import open_run

        run, saved = open_run(Path(args.policy))
        spec = get_system(saved["system"])
        if spec.policy is None:
            raise DreamlabError(f"system {spec.name} has no policy to collect with")
        policy = spec.policy(run)
    env = make_env(args.env, pixels=args.pixels, seed=args.seed)
    out = Path(args.out or Path("data") / args.env.replace("/", "_"))
    store = EpisodeStore.create(
        out,
        env_name=args.env,
        meta={"policy": args.policy, "pixels": args.pixels, "seed": args.seed},
        observation_space=env.observation_space,
        action_space=env.action_space,
    )
    with store:
        stats = collect(
            env, args.episodes, store, policy=policy, seed=args.seed, max_steps=args.max_steps
        )
    env.close()
    _print_summary(stats)
    print(f"written to {out}")


def _cmd_plan(args: argparse.Namespace, rest: list[str]) -> None:
    from dreamlab.eval.planning import PlanSettings, mpc_episode, plan_settings, plan_video
    from dreamlab.train.config import apply_overrides, config_help

    if args.help:
        print(
            "dreamlab plan --model sim --env ENV [--episodes N] [--seed S] [--out DIR] [options]\n"
        )
        print(
            "Runs model-predictive control and writes a video: reality next to the plan's imagination.\n"
        )
        print(config_help(PlanSettings, {}))
        return
    if not args.env:
        raise DreamlabError("plan needs --env ENV (see dreamlab list)")
    if args.model != "sim":
        raise unknown_choice(
            "model", args.model, ["sim"], hint="learned models plug in as their systems land"
        )
    if args.episodes < 1:
        raise DreamlabError(f"--episodes must be at least 1, got {args.episodes}")
    settings = apply_overrides(plan_settings(args.env), rest)
    out = Path(args.out)
    returns, successes = [], []
    for seed in range(args.seed, args.seed + args.episodes):
        result = mpc_episode(args.env, settings, seed, record=not args.no_video)
        returns.append(result.ret)
        line = f"episode seed {seed}: return {result.ret:.1f}, {result.steps} steps"
        if result.success is not None:
            successes.append(result.success)
            line += f", {'success' if result.success else 'no success'}"
        if not args.no_video:
            path = plan_video(result, out / f"plan_{args.env.replace('/', '_')}_seed{seed}.gif")
            line += f", video {path}"
        print(line)
    summary: dict[str, Any] = {
        "episodes": args.episodes,
        "mean_return": sum(returns) / len(returns),
    }
    if successes:
        summary["success_rate"] = sum(successes) / len(successes)
    _print_summary(summary)


def _cmd_dream(args: argparse.Namespace) -> None:
    from dreamlab.train.run import open_run

    run, saved = open_run(Path(args.run))
    spec = get_system(saved["system"])
    if spec.dream is None:
        raise DreamlabError(f"system {spec.name} has no dream videos")
    if args.frames < 1:
        raise DreamlabError(f"--frames must be at least 1, got {args.frames}")
    _print_summary(spec.dream(run, args.frames, args.seed))


def _cmd_demo(args: argparse.Namespace) -> None:
    spec = get_system(args.system)
    if spec.demo is None:
        raise DreamlabError(f"system {spec.name} has no demo")
    start = time.perf_counter()
    summary = spec.demo(Path(args.out))
    _print_summary(summary)
    print(f"demo done in {time.perf_counter() - start:.1f} s; pictures in {args.out}/")


def _print_summary(summary: dict[str, Any]) -> None:
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, list | tuple) and len(value) > 12:
            value = f"[{', '.join(map(str, value[:12]))}, ...] ({len(value)} values)"
        print(f"  {key}: {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dreamlab`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        if not argv:
            parser.print_help()
            return 0
        verbs = ("list", "train", "eval", "collect", "plan", "dream", "demo")
        if argv[0] not in verbs and not argv[0].startswith("-"):
            raise unknown_choice("command", argv[0], verbs)
        args, rest = parser.parse_known_args(argv)
        if args.verb not in ("train", "plan") and rest:
            raise DreamlabError(f"{args.verb}: unrecognized arguments: {' '.join(rest)}")
        if args.verb == "list":
            _cmd_list()
        elif args.verb == "train":
            _cmd_train(args, rest)
        elif args.verb == "eval":
            _cmd_eval(args)
        elif args.verb == "collect":
            _cmd_collect(args)
        elif args.verb == "plan":
            _cmd_plan(args, rest)
        elif args.verb == "dream":
            _cmd_dream(args)
        elif args.verb == "demo":
            _cmd_demo(args)
    except DreamlabError as err:
        print(f"dreamlab: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "dreamlab: interrupted (a run continues with: dreamlab train --resume RUN)",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
