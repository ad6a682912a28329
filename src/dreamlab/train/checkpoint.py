"""Checkpoints as safetensors (tensors) plus JSON (metadata): safe to load from a stranger, never pickle.

A checkpoint at step ``s`` is two files in one folder::

    ckpt_{s:09d}.safetensors   tensors; header metadata {"format": "dreamlab-checkpoint", "version": "1"}
    ckpt_{s:09d}.json          the caller's meta + format, version, step and the sha256 of the tensors file

Both are written atomically, the JSON last, so a checkpoint counts only once its JSON exists: a run
killed while saving leaves the previous checkpoint as the latest. Loading never modifies or deletes.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dreamlab.errors import DreamlabError
from dreamlab.train.files import atomic_write_bytes, atomic_write_text

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "dreamlab-checkpoint"
CHECKPOINT_VERSION = "1"
_RESERVED = ("format", "version", "step", "sha256")
_NAME = re.compile(r"^ckpt_(\d{9,})\.(safetensors|json)$")
_MAX_HEADER = 100_000_000  # the safetensors library's own limit on the header size


class CheckpointError(DreamlabError):
    """A checkpoint file is missing, truncated, corrupt or not a dreamlab checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: its step, its tensors (CPU) and the caller's metadata."""

    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]


def _stem(step: int) -> str:
    return f"ckpt_{step:09d}"


def _fail(path: Path, problem: str) -> CheckpointError:
    # Library messages may span lines; the CLI shows exactly one.
    problem = " ".join(problem.split())
    return CheckpointError(f"cannot load checkpoint {path}: {problem}")


def _to_tensor(name: str, value: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        array = value if value.dtype.isnative else value.astype(value.dtype.newbyteorder("="))
        return torch.from_numpy(np.array(array, order="C", copy=True))
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").contiguous()
    raise TypeError(
        f"checkpoint tensor {name!r} is a {type(value).__name__}, not a tensor or array"
    )


def save_checkpoint(
    directory: Path,
    step: int,
    tensors: dict[str, torch.Tensor | np.ndarray],
    meta: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Write checkpoint ``step`` into ``directory`` and return the path of its ``.safetensors`` file.

    ``meta`` must be JSON-serialisable and may not use the keys format/version/step/sha256. After the
    new checkpoint is complete, older checkpoints beyond the newest ``keep`` are removed; checkpoints with
    a larger step than ``step`` are never touched.
    """
    if step < 0:
        raise ValueError(f"checkpoint step must be >= 0, got {step}")
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    clash = [k for k in _RESERVED if k in meta]
    if clash:
        raise ValueError(f"checkpoint meta may not use the reserved keys {clash}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    converted: dict[str, torch.Tensor] = {}
    seen_storage: set[int] = set()
    for name, value in tensors.items():
        tensor = _to_tensor(name, value)
        # safetensors refuses tensors sharing memory (tied weights); a copy keeps each one whole.
        ptr = tensor.untyped_storage().data_ptr()
        if tensor.numel() > 0 and ptr in seen_storage:
            tensor = tensor.clone()
            ptr = tensor.untyped_storage().data_ptr()
        seen_storage.add(ptr)
        converted[name] = tensor

    # Serialise the JSON before writing anything, so bad meta fails with nothing on disk changed.
    body = {**meta, "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": step}
    json.dumps(body)
    data = st_save(
        converted,
        metadata={"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": str(step)},
    )
    body["sha256"] = hashlib.sha256(data).hexdigest()

    tensors_path = directory / f"{_stem(step)}.safetensors"
    atomic_write_bytes(tensors_path, data)
    atomic_write_text(directory / f"{_stem(step)}.json", json.dumps(body, indent=2) + "\n")
    _prune(directory, step, keep)
    return tensors_path


def _steps_on_disk(directory: Path) -> dict[int, set[str]]:
    """Step -> the suffixes present (``safetensors``, ``json``) for files named like checkpoints."""
    found: dict[int, set[str]] = {}
    if not directory.is_dir():
        return found
    for entry in directory.iterdir():
        match = _NAME.match(entry.name)
        if match and entry.is_file():
            found.setdefault(int(match.group(1)), set()).add(match.group(2))
    return found


def _read_own_json(path: Path) -> dict[str, Any] | None:
    """The JSON of a dreamlab checkpoint, or None when unreadable or not ours."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        return None
    return body


def _complete_steps(directory: Path) -> list[int]:
    """Steps whose two files exist and whose JSON is a readable dreamlab checkpoint JSON, ascending."""
    return [
        step
        for step, suffixes in sorted(_steps_on_disk(directory).items())
        if suffixes == {"safetensors", "json"} and _read_own_json(directory / f"{_stem(step)}.json")
    ]


def list_checkpoints(directory: Path) -> list[Path]:
    """The complete checkpoints in ``directory`` (their ``.safetensors`` paths), oldest first."""
    directory = Path(directory)
    return [directory / f"{_stem(step)}.safetensors" for step in _complete_steps(directory)]


def latest_checkpoint(directory: Path) -> Path | None:
    """The ``.safetensors`` path of the newest complete checkpoint in ``directory`` (JSON present and
    valid), or None when there is none."""
    complete = list_checkpoints(directory)
    return complete[-1] if complete else None


def _prune(directory: Path, newest: int, keep: int) -> None:
    """Remove complete checkpoints older than the newest ``keep`` up to ``newest``, and older leftovers."""
    kept = [s for s in _complete_steps(directory) if s <= newest][-keep:]
    for step, suffixes in _steps_on_disk(directory).items():
        if step >= newest or step in kept:
            continue
        # JSON first: a checkpoint half removed is then incomplete, never a broken "latest".
        for suffix in ("json", "safetensors"):
            if suffix in suffixes:
                (directory / f"{_stem(step)}.{suffix}").unlink(missing_ok=True)


def _check_header(path: Path, data: bytes) -> None:
    """Raise CheckpointError unless ``data`` is a complete safetensors file carrying our format tag."""
    if len(data) < 8:
        raise _fail(path, f"not a safetensors file (only {len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > _MAX_HEADER or 8 + header_len > len(data):
        problem = "file is truncated" if data[8:9] == b"{" else "not a safetensors file"
        raise _fail(path, f"{problem} (header of {header_len} bytes, file of {len(data)} bytes)")
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _fail(path, "not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise _fail(path, "not a safetensors file (its header is not a JSON object)")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or metadata.get("format") != CHECKPOINT_FORMAT:
        raise _fail(
            path,
            f"a safetensors file but not a dreamlab checkpoint (no '{CHECKPOINT_FORMAT}' format tag)",
        )
    if metadata.get("version") != CHECKPOINT_VERSION:
        raise _fail(
            path,
            f"unsupported checkpoint version {metadata.get('version')!r} (this dreamlab reads {CHECKPOINT_VERSION!r})",
        )
    try:
        end = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0
        )
    except (TypeError, KeyError, IndexError, ValueError):
        raise _fail(path, "corrupt safetensors header (bad data offsets)") from None
    if 8 + header_len + end > len(data):
        raise _fail(path, f"file is truncated ({len(data)} of {8 + header_len + end} bytes)")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(path, "file is missing (incomplete checkpoint)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read JSON ({exc})") from None
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise _fail(path, f"unreadable JSON ({exc})") from None
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        raise _fail(
            path, f"a JSON file but not a dreamlab checkpoint (no '{CHECKPOINT_FORMAT}' format)"
        )
    if body.get("version") != CHECKPOINT_VERSION:
        raise _fail(
            path,
            f"unsupported checkpoint version {body.get('version')!r} (this dreamlab reads {CHECKPOINT_VERSION!r})",
        )
    if not isinstance(body.get("step"), int) or not isinstance(body.get("sha256"), str):
        raise _fail(path, "checkpoint JSON lacks a valid 'step' or 'sha256'")
    return body


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint from its ``.safetensors`` or ``.json`` file, or the latest complete one in a folder.

    Every problem (missing, truncated, foreign, unreadable) raises a one-line :class:`CheckpointError`;
    nothing on disk is modified.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"cannot load checkpoint {path}: no such file or folder")
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(
                f"cannot load checkpoint: no complete checkpoint in folder {path}"
            )
        path = latest

    if path.suffix == ".json":
        json_path, tensors_path = path, path.with_suffix(".safetensors")
        body = _read_json(
            json_path
        )  # a foreign JSON is named as such before looking for its partner
        if not tensors_path.is_file():
            raise _fail(tensors_path, "file is missing")
        data = tensors_path.read_bytes()
        _check_header(tensors_path, data)
    elif path.suffix == ".safetensors":
        tensors_path, json_path = path, path.with_suffix(".json")
        data = tensors_path.read_bytes()
        _check_header(tensors_path, data)
        body = _read_json(json_path)
    else:
        raise _fail(
            path, "not a dreamlab checkpoint (expected a .safetensors or .json file, or a folder)"
        )

    if hashlib.sha256(data).hexdigest() != body["sha256"]:
        raise _fail(tensors_path, "sha256 does not match its JSON (file truncated or modified)")
    try:
        tensors = st_load(data)
    except Exception as exc:  # the parser's own error types vary across safetensors versions
        raise _fail(tensors_path, f"corrupt safetensors file ({exc})") from None
    meta = {k: v for k, v in body.items() if k not in _RESERVED}
    return Checkpoint(step=body["step"], tensors=tensors, meta=meta)
