"""The run directory: config.json, metrics.jsonl, TensorBoard events, checkpoints/ and videos/.

::

    runs/dyna-cartpole-20250101-120000/
      config.json        {"system", "env", "config": {...}, "created", "dreamlab_version"}
      metrics.jsonl      one {"step", "time", "<key>": value, ...} per log call
      checkpoints/       ckpt_{step:09d}.safetensors + .json
      videos/
      tb/                TensorBoard event files
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from dreamlab.errors import DreamlabError
from dreamlab.train.files import atomic_write_text

__all__ = [
    "MetricsLogger",
    "RunDir",
    "create_run",
    "open_run",
    "read_metrics",
    "truncate_metrics",
]


@dataclass(frozen=True)
class RunDir:
    """A run's folder and the fixed places inside it."""

    path: Path

    @property
    def config_path(self) -> Path:
        """``config.json``: system, env, resolved config, creation time, dreamlab version."""
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        """``metrics.jsonl``: one JSON object per logged step."""
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        """``checkpoints/``: safetensors + JSON checkpoints."""
        return self.path / "checkpoints"

    @property
    def videos(self) -> Path:
        """``videos/``: dream videos and rollouts."""
        return self.path / "videos"

    @property
    def tensorboard(self) -> Path:
        """``tb/``: TensorBoard event files."""
        return self.path / "tb"


def _dreamlab_version() -> str:
    try:
        return metadata.version("dreamlab")
    except metadata.PackageNotFoundError:
        return "unknown"


def create_run(
    root: Path, system: str, env: str, config: dict[str, Any], name: str | None = None
) -> RunDir:
    """Make a new run folder ``root/<name or system-env-YYYYmmdd-HHMMSS>`` (``-1``, ``-2``... if taken),
    write its config.json and create its sub-folders."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = name or f"{system}-{env}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    if not base or "/" in base or "\\" in base or base in (".", ".."):
        raise DreamlabError(f"invalid run name '{base}': use a plain folder name")
    candidate, n = root / base, 0
    while True:
        try:
            # mkdir without exist_ok claims the name even when two runs start in the same second.
            candidate.mkdir()
            break
        except FileExistsError:
            n += 1
            candidate = root / f"{base}-{n}"
    run = RunDir(candidate)
    body = {
        "system": system,
        "env": env,
        "config": config,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "dreamlab_version": _dreamlab_version(),
    }
    atomic_write_text(run.config_path, json.dumps(body, indent=2) + "\n")
    for sub in (run.checkpoints, run.videos, run.tensorboard):
        sub.mkdir(exist_ok=True)
    return run


def open_run(path: Path) -> tuple[RunDir, dict[str, Any]]:
    """Open an existing run folder: its :class:`RunDir` and the contents of its config.json."""
    run = RunDir(Path(path))
    if not run.path.is_dir():
        raise DreamlabError(f"not a run folder: {run.path} does not exist")
    try:
        body = json.loads(run.config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DreamlabError(f"not a run folder: {run.config_path} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problem = " ".join(str(exc).split())
        raise DreamlabError(
            f"not a run folder: {run.config_path} is unreadable ({problem})"
        ) from None
    required = ("system", "env", "config")
    if (
        not isinstance(body, dict)
        or any(k not in body for k in required)
        or not isinstance(body["config"], dict)
    ):
        raise DreamlabError(
            f"not a run folder: {run.config_path} lacks 'system', 'env' or 'config'"
        )
    return run, body


def _number(value: Any) -> float | None:
    """A metric's value as a float for TensorBoard, or None when it is not a number (a text note)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class MetricsLogger:
    """Appends metrics to ``metrics.jsonl`` (flushed each call) and to TensorBoard (optional, lazy).

    ``with MetricsLogger(run) as log: log.log(step, {"train/loss/reward": 0.1})``
    """

    def __init__(self, run: RunDir, tensorboard: bool = True) -> None:
        self.run = run
        self._use_tensorboard = tensorboard
        self._file = run.metrics_path.open("a", encoding="utf-8")
        self._writer: Any = None

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record ``metrics`` at ``step``: one JSON line, and one TensorBoard scalar per key."""
        if "step" in metrics or "time" in metrics:
            raise ValueError("metric keys 'step' and 'time' are reserved")
        row: dict[str, Any] = {"step": int(step), "time": time.time()}
        for key, value in metrics.items():
            # Tensors and numpy scalars become plain numbers so the line stays valid JSON.
            row[key] = value.item() if hasattr(value, "item") else value
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._use_tensorboard:
            writer = self._tensorboard_writer()
            for key, value in row.items():
                number = _number(value) if key not in ("step", "time") else None
                if number is not None:
                    writer.add_scalar(key, number, global_step=int(step))

    def _tensorboard_writer(self) -> Any:
        if self._writer is None:
            # Imported here: TensorBoard's import is slow and runs without it never pay for it.
            from torch.utils.tensorboard import SummaryWriter

            self.run.tensorboard.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(self.run.tensorboard))
        return self._writer

    def flush(self) -> None:
        """Push pending TensorBoard events to disk (the JSON lines are already flushed)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Close metrics.jsonl and the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_metrics(run: RunDir) -> list[dict[str, Any]]:
    """All rows of a run's metrics.jsonl, in order; a torn last line (killed mid-write) is skipped."""
    if not run.metrics_path.exists():
        return []
    rows = []
    lines = run.metrics_path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            if i == len(lines) - 1:
                break
            raise DreamlabError(f"{run.metrics_path}: line {i + 1} is not JSON") from None
    return rows


def truncate_metrics(run: RunDir, after_step: int) -> None:
    """Keep only the metrics rows with ``step <= after_step`` (atomic rewrite), for resuming a run
    from the checkpoint at ``after_step`` so its metrics.jsonl matches an uninterrupted run's."""
    if not run.metrics_path.exists():
        return
    kept = [line for line in _complete_lines(run) if json.loads(line)["step"] <= after_step]
    atomic_write_text(run.metrics_path, "".join(line + "\n" for line in kept))


def _complete_lines(run: RunDir) -> list[str]:
    """The metrics file's JSON lines as written (byte-exact), without a torn last line."""
    lines = [
        line for line in run.metrics_path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if lines:
        try:
            json.loads(lines[-1])
        except ValueError:
            lines.pop()
    return lines
