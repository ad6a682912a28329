"""Benchmark results in the one shape every file in docs/results shares.

``{"benchmark", "command", "commit", "machine", "started", "wall_seconds", "seeds", "metrics"}``, where
a metric is a number, a boolean, or ``{"mean", "std", "n"}`` for a spread over runs.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dreamlab.train.files import atomic_write_text

__all__ = [
    "format_metric",
    "git_commit",
    "machine",
    "now",
    "spread",
    "write_report",
    "write_results",
]


def spread(values: Iterable[float]) -> dict[str, float | int]:
    """Mean, standard deviation (population, ddof 0) and count of a set of runs."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("spread needs at least one value")
    mean = sum(xs) / len(xs)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
    return {"mean": mean, "std": std, "n": len(xs)}


def git_commit(repo: Path | None = None) -> str:
    """The commit the code ran at, with ``+dirty`` when the work tree had uncommitted changes."""
    cwd = str(repo or Path(__file__).resolve().parent)
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model, cores, memory, Python and torch versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    import torch

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def write_results(
    path: Path,
    benchmark: str,
    command: str,
    started: datetime,
    wall_seconds: float,
    seeds: list[int],
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """Write one results file atomically and return its content."""
    record = {
        "benchmark": benchmark,
        "command": command,
        "commit": git_commit(),
        "machine": machine(),
        "started": started.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(wall_seconds, 3),
        "seeds": seeds,
        "metrics": metrics,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return record


def now() -> datetime:
    """The current time, timezone-aware (for ``started``)."""
    return datetime.now(timezone.utc)


def format_metric(value: Any) -> str:
    """A metric as a person reads it: spreads as ``mean ± std (n = N)``, big numbers with commas,
    other dicts as ``key: value`` pairs."""
    if isinstance(value, dict) and {"mean", "std", "n"} <= set(value):
        return f"{value['mean']:.1f} ± {value['std']:.1f} (n = {value['n']})"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {format_metric(v)}" for k, v in value.items())
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def write_report(
    path: Path,
    record: dict[str, Any],
    title: str,
    rows: list[tuple[str, str, str]],
    notes: list[str],
    reference: str = "target",
) -> None:
    """A markdown page for a results file: provenance, a table of (label, metric key, reference)
    rows, then notes (one paragraph each)."""
    m = record["metrics"]
    machine_info = record["machine"]
    lines = [
        f"# {title}",
        "",
        f"`{record['command'].strip()}` at commit `{record['commit']}`, started {record['started']}, "
        f"{record['wall_seconds']:.0f} s in all on {machine_info['cpu']} ({machine_info['cores']} cores).",
        "",
        f"| quantity | dreamlab | {reference} |",
        "|---|---|---|",
        *[f"| {label} | {format_metric(m[key])} | {ref} |" for label, key, ref in rows],
        "",
    ]
    for note in notes:
        lines += [note, ""]
    atomic_write_text(path, "\n".join(lines))
