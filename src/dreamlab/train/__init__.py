"""Run infrastructure: run folders, metrics, checkpoints, configs, seeding and progress bars."""

from __future__ import annotations

from dreamlab.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    Checkpoint,
    CheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from dreamlab.train.config import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_help,
    config_to_dict,
    field_docs,
    resolve_preset,
)
from dreamlab.train.files import atomic_write_bytes, atomic_write_text, fsync_dir
from dreamlab.train.progress import progress_bar, track
from dreamlab.train.run import (
    MetricsLogger,
    RunDir,
    create_run,
    open_run,
    read_metrics,
    truncate_metrics,
)
from dreamlab.train.seeding import (
    numpy_rng_state,
    python_rng_state,
    restore_numpy_rng,
    restore_python_rng,
    restore_torch_rng,
    seed_everything,
    torch_rng_state,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "MetricsLogger",
    "RunDir",
    "apply_overrides",
    "atomic_write_bytes",
    "atomic_write_text",
    "config_from_dict",
    "config_help",
    "config_to_dict",
    "create_run",
    "field_docs",
    "fsync_dir",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "numpy_rng_state",
    "open_run",
    "progress_bar",
    "python_rng_state",
    "read_metrics",
    "resolve_preset",
    "restore_numpy_rng",
    "restore_python_rng",
    "restore_torch_rng",
    "save_checkpoint",
    "seed_everything",
    "torch_rng_state",
    "track",
    "truncate_metrics",
]
