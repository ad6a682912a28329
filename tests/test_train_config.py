"""Typed configs: attribute docstrings, command-line overrides, presets, dict round trip, help."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from dreamlab.errors import DreamlabError
from dreamlab.train import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_help,
    config_to_dict,
    field_docs,
    resolve_preset,
)


@dataclass(frozen=True)
class ToyConfig:
    planning_steps: int = 10
    """Simulated updates from the model per real step."""
    lr: float = 0.1
    """Learning rate of the Q update.

    A second paragraph that help leaves out.
    """
    env: str = "cartpole"
    """Environment name."""
    use_model: bool = True
    """Plan with the learned model."""
    mode: Literal["tabular", "linear"] = "tabular"
    """Value function form."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes."""
    betas: tuple[float, ...] = (0.9, 0.999)
    """Adam betas."""
    max_steps: int | None = None
    """Stop after this many steps (none: no limit)."""
    temperature: float | None = 1.0
    out: Path = Path("runs")
    """Where runs go."""
    tags: tuple[str, ...] = field(default_factory=tuple)
    """Free-form labels."""


PRESETS = {"cartpole": ToyConfig(), "debug": ToyConfig(planning_steps=1, hidden=(8,))}


def _error(argv: list[str]) -> str:
    with pytest.raises(ConfigError) as info:
        apply_overrides(ToyConfig(), argv)
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, DreamlabError)
    return message


def test_field_docs_reads_attribute_docstrings():
    docs = field_docs(ToyConfig)
    assert docs["planning_steps"] == "Simulated updates from the model per real step."
    assert docs["lr"].startswith("Learning rate of the Q update.\n\nA second paragraph")
    assert docs["max_steps"] == "Stop after this many steps (none: no limit)."
    assert "temperature" not in docs  # no string after it


def test_field_docs_includes_base_class_fields():
    @dataclass(frozen=True)
    class Child(ToyConfig):
        extra: int = 0
        """Only in the child."""

    docs = field_docs(Child)
    assert docs["extra"] == "Only in the child."
    assert docs["env"] == "Environment name."


def test_apply_overrides_every_type():
    cfg = apply_overrides(
        ToyConfig(),
        [
            "--planning-steps", "5",
            "--lr=0.5",
            "--env", "acrobot",
            "--no-use-model",
            "--mode", "linear",
            "--hidden=32,16,8",
            "--betas", "0.5, 0.75",
            "--max_steps", "1000",
            "--temperature", "none",
            "--out", "/tmp/x",
            "--tags", "a,b",
        ],
    )  # fmt: skip
    assert cfg == ToyConfig(
        planning_steps=5,
        lr=0.5,
        env="acrobot",
        use_model=False,
        mode="linear",
        hidden=(32, 16, 8),
        betas=(0.5, 0.75),
        max_steps=1000,
        temperature=None,
        out=Path("/tmp/x"),
        tags=("a", "b"),
    )
    assert isinstance(cfg.lr, float) and isinstance(cfg.hidden[0], int)


def test_apply_overrides_spellings_and_booleans():
    base = ToyConfig(use_model=False, max_steps=5)
    assert apply_overrides(base, ["--planning_steps=5"]).planning_steps == 5
    assert apply_overrides(base, ["--use-model"]).use_model is True
    assert apply_overrides(base, ["--use_model", "--lr", "1"]).use_model is True
    assert apply_overrides(ToyConfig(), ["--use-model", "false"]).use_model is False
    assert apply_overrides(base, ["--use-model=true"]).use_model is True
    assert apply_overrides(ToyConfig(), ["--no_use_model"]).use_model is False
    assert apply_overrides(base, ["--max-steps", "None"]).max_steps is None
    assert apply_overrides(base, ["--planning-steps", "-3"]).planning_steps == -3
    assert apply_overrides(base, ["--hidden="]).hidden == ()
    # Later options win; the input config is unchanged (frozen, replaced).
    assert apply_overrides(base, ["--lr", "1", "--lr", "2"]).lr == 2.0
    assert base.lr == 0.1
    assert apply_overrides(base, []) == base


def test_apply_overrides_errors():
    msg = _error(["--plannig-steps", "5"])
    assert "unknown option '--plannig-steps'" in msg and "did you mean '--planning-steps'" in msg
    assert "--use-model" in msg  # lists the options
    assert "expects a value (an int)" in _error(["--planning-steps"])
    assert "--planning-steps expects a value" in _error(["--planning-steps", "--lr", "1"])
    assert _error(["--planning-steps", "abc"]) == "--planning-steps expects an int, got 'abc'"
    assert _error(["--planning-steps", "2.5"]) == "--planning-steps expects an int, got '2.5'"
    assert _error(["--lr=fast"]) == "--lr expects a float, got 'fast'"
    assert _error(["--mode", "deep"]) == "--mode expects one of: tabular, linear, got 'deep'"
    assert _error(["--use-model", "maybe"]) == "--use-model expects true or false, got 'maybe'"
    assert "comma-separated ints" in _error(["--hidden", "32,x"])
    assert "an int or none" in _error(["--max-steps", "lots"])
    assert "takes no value" in _error(["--no-use-model=true"])
    assert "unknown option '--no-lr'" in _error(["--no-lr"])
    assert "unexpected argument 'stray'" in _error(["stray"])


def test_resolve_preset():
    assert resolve_preset(PRESETS, "debug").planning_steps == 1
    with pytest.raises(ConfigError, match=r"unknown preset 'debgu' \(did you mean 'debug'\?\)"):
        resolve_preset(PRESETS, "debgu")


def test_config_dict_round_trip_through_json():
    cfg = ToyConfig(hidden=(1, 2), max_steps=7, mode="linear", out=Path("a/b"), tags=("x",))
    d = json.loads(json.dumps(config_to_dict(cfg)))
    assert d["hidden"] == [1, 2] and d["out"] == "a/b"
    assert config_from_dict(ToyConfig, d) == cfg
    assert config_from_dict(ToyConfig, {"lr": 1}).lr == 1.0  # JSON ints are fine for floats
    assert config_from_dict(ToyConfig, {}) == ToyConfig()


def test_config_from_dict_errors():
    with pytest.raises(
        ConfigError, match=r"unknown ToyConfig key 'planing_steps' \(did you mean 'planning_steps'"
    ):
        config_from_dict(ToyConfig, {"planing_steps": 3})
    with pytest.raises(ConfigError, match="'planning_steps' expects an int, got '3'"):
        config_from_dict(ToyConfig, {"planning_steps": "3"})
    with pytest.raises(ConfigError, match="'mode' expects one of: tabular, linear"):
        config_from_dict(ToyConfig, {"mode": "deep"})
    with pytest.raises(ConfigError, match="'use_model' expects true or false"):
        config_from_dict(ToyConfig, {"use_model": 1})


def test_config_help():
    text = config_help(ToyConfig, PRESETS)
    lines = text.splitlines()
    assert len(lines) == len(dataclasses.fields(ToyConfig)) + 1
    first = lines[0]
    assert first.startswith("--planning-steps INT (default 10)")
    assert first.endswith("Simulated updates from the model per real step.")
    by_option = {line.split()[0]: line for line in lines}
    assert (
        "(default true)" in by_option["--use-model"]
        and "--no-use-model" in by_option["--use-model"]
    )
    assert "{tabular,linear} (default tabular)" in by_option["--mode"]
    assert "--hidden INT,... (default 64,64)" in by_option["--hidden"]
    assert "--tags STR,... (default empty)" in by_option["--tags"]
    assert "INT|NONE (default none)" in by_option["--max-steps"]
    assert "second paragraph" not in text
    assert lines[-1] == "presets: cartpole, debug"
