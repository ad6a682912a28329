"""The pretraining loop the JEPA representation learners (I-JEPA, V-JEPA) share: their schedules,
their optimiser, and the bookkeeping around each update (resume, logging, checkpoints, summary).

What stays in each system is what its paper is about: the data, the masks and the loss. A
system's ``train`` reads::

    loop = JEPALoop(run, "ijepa", modules, opt, rng, cfg, resume)   # restores a checkpoint
    with loop.running("I-JEPA on shapes"):
        while loop.step < cfg.steps:
            lr, m = loop.schedule()          # sets the learning rate of every param group
            ...                              # batch and masks from loop.rng, loss, opt.step()
            ema_update(target, encoder, m)
            loop.advance()
            if loop.log_due():
                loop.log({"train/loss": ...})
            loop.save_if_due()               # after logging: a resumed run re-logs nothing twice
        loop.end_training()
        results = probes(...)
        return loop.finish(results)          # eval/ rows and summary.json

Schedules (``cfg.steps`` = S updates, numbered 0 .. S - 1)::

    lr(s) = lr_start + (lr - lr_start) s / warmup_steps                        s < warmup_steps
          = lr_end + (lr - lr_end) (1 + cos(pi min(1, (s - w) / (S - 1 - w)))) / 2   otherwise
    m(s)  = ema_start + (ema_end - ema_start) s / (S - 1)                      nn.ema.ema_momentum

Weight decay is constant (both papers raise it by a cosine; see each system's deviations).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from dreamlab.eval.probes import linear_probe
from dreamlab.nn.ema import ema_momentum
from dreamlab.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from dreamlab.train.files import atomic_write_text
from dreamlab.train.progress import ProgressBar, progress_bar
from dreamlab.train.run import MetricsLogger, RunDir, truncate_metrics
from dreamlab.train.seeding import numpy_rng_state, restore_numpy_rng
from dreamlab.train.torch_state import checkpoint_state, restore_state

__all__ = [
    "JEPALoop",
    "JEPALoopConfig",
    "encode_in_batches",
    "jepa_adamw",
    "linear_probes",
    "lr_at",
]


class JEPALoopConfig(Protocol):
    """The config fields the shared loop reads (I-JEPA's and V-JEPA's configs both have them;
    see either for their meaning). Read-only properties, so frozen dataclasses match."""

    @property
    def steps(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def lr_start(self) -> float: ...
    @property
    def lr_end(self) -> float: ...
    @property
    def warmup_steps(self) -> int: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def ema_start(self) -> float: ...
    @property
    def ema_end(self) -> float: ...
    @property
    def log_every(self) -> int: ...
    @property
    def checkpoint_every(self) -> int: ...


# ----------------------------------------------------------------------------- schedules


def cosine_decay(frac: float, start: float, end: float) -> float:
    """Half a cosine from ``start`` at ``frac`` 0 to ``end`` at ``frac`` 1; ``end`` beyond."""
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * min(frac, 1.0)))


def lr_at(step: int, cfg: JEPALoopConfig) -> float:
    """Linear warm-up from ``lr_start`` to ``lr`` over ``warmup_steps``, then a cosine to ``lr_end``
    at the last step (``steps - 1``); it stays at ``lr_end`` beyond."""
    if step < cfg.warmup_steps:
        return cfg.lr_start + (cfg.lr - cfg.lr_start) * step / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(cfg.steps - 1 - cfg.warmup_steps, 1)
    return cosine_decay(frac, cfg.lr, cfg.lr_end)


def jepa_adamw(cfg: JEPALoopConfig, modules: list[nn.Module]) -> torch.optim.AdamW:
    """AdamW over the parameters of ``modules`` starting at ``lr_start``, with ``weight_decay``
    on weight matrices and kernels only (biases, norms and mask tokens are exempt)."""
    params = [p for m in modules for p in m.parameters()]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr_start)


# ----------------------------------------------------------------------------- probes


@torch.inference_mode()
def encode_in_batches(
    encoder: nn.Module, data: np.ndarray, to_input: Callable[[Tensor], Tensor], batch: int
) -> Tensor:
    """Frozen tokens [N, P, D] of uint8 inputs ``data`` [N, ...]: ``encoder(to_input(x))`` on
    chunks of ``batch``, with the encoder in eval mode (so memory stays bounded)."""
    encoder.eval()
    out = [
        encoder(to_input(torch.from_numpy(data[i : i + batch]))) for i in range(0, len(data), batch)
    ]
    return torch.cat(out)


def linear_probes(
    train_x: Tensor,
    train_labels: dict[str, np.ndarray],
    test_x: Tensor,
    test_labels: dict[str, np.ndarray],
    epochs: int,
    lr: float,
    seed: int,
) -> dict[str, float]:
    """Test accuracy of a linear probe per label, label name -> accuracy, on pooled features
    train_x [N, D] and test_x [M, D] with int labels [N] and [M]."""
    accuracy: dict[str, float] = {}
    for name, y in train_labels.items():
        y_tr, y_te = torch.from_numpy(y), torch.from_numpy(test_labels[name])
        accuracy[name] = linear_probe(train_x, y_tr, test_x, y_te, epochs=epochs, lr=lr, seed=seed)
    return accuracy


# ----------------------------------------------------------------------------- the loop


class JEPALoop:
    """A pretraining run's position and bookkeeping: the step, the sampling RNG, the wall clock,
    and the checkpoint folder ``run.checkpoints / name`` (one checkpoint kept).

    With ``resume`` and a checkpoint in that folder, the modules and the optimiser are restored
    in place, ``rng`` is replaced by the saved one (read ``loop.rng`` afterwards, never the one
    passed in) and metrics rows logged after the checkpoint are dropped, to be logged again; so
    a killed and resumed run ends bit for bit where an uninterrupted one does.
    """

    def __init__(
        self,
        run: RunDir,
        name: str,
        modules: dict[str, nn.Module],
        opt: torch.optim.Optimizer,
        rng: np.random.Generator,
        cfg: JEPALoopConfig,
        resume: bool = False,
    ) -> None:
        self.run = run
        self.folder = run.checkpoints / name
        self.modules = modules
        self.opt = opt
        self.rng = rng
        self.cfg = cfg
        self.step = 0
        wall = 0.0
        if resume and latest_checkpoint(self.folder) is not None:
            ckpt = load_checkpoint(self.folder)
            restore_state(ckpt.tensors, ckpt.meta, modules, {"opt": opt})
            self.rng, self.step, wall = (
                restore_numpy_rng(ckpt.meta["rng"]),
                ckpt.step,
                ckpt.meta["wall"],
            )
            truncate_metrics(run, self.step)
        # The clock counts the time before the checkpoint too, so minutes cover the whole run.
        self.t0 = time.time() - wall
        self.saved_at = self.step
        self.train_minutes = 0.0
        self._log: MetricsLogger | None = None
        self._bar: ProgressBar | None = None

    @contextmanager
    def running(self, description: str) -> Iterator[None]:
        """Open the run's metrics log and a progress bar of ``cfg.steps`` (already at ``step``)
        for the duration of the block."""
        with MetricsLogger(self.run) as log, progress_bar(self.cfg.steps, description) as bar:
            bar.advance(self.step)
            self._log, self._bar = log, bar
            try:
                yield
            finally:
                self._log, self._bar = None, None

    def schedule(self) -> tuple[float, float]:
        """The learning rate and the EMA momentum of the update at ``step``; sets the learning
        rate of every parameter group."""
        lr = lr_at(self.step, self.cfg)
        m = ema_momentum(self.step, self.cfg.steps, self.cfg.ema_start, self.cfg.ema_end)
        for group in self.opt.param_groups:
            group["lr"] = lr
        return lr, m

    def advance(self) -> None:
        """Count one finished update."""
        self.step += 1
        if self._bar is not None:
            self._bar.advance()

    def _due(self, every: int) -> bool:
        return self.step % every == 0 or self.step == self.cfg.steps

    def log_due(self) -> bool:
        """Whether the step just finished logs a row: every ``log_every`` steps and the last."""
        return self._due(self.cfg.log_every)

    def log(self, row: dict[str, float]) -> None:
        """Log ``row`` at the current step and show its ``train/loss`` next to the progress bar."""
        if self._log is None or self._bar is None:
            raise RuntimeError("JEPALoop.log called outside 'with loop.running(...)'")
        if "train/loss" in row:
            self._bar.status(f"loss {row['train/loss']:.4f}")
        self._log.log(self.step, row)

    def save(self) -> None:
        """Checkpoint the modules, the optimiser, the RNG and the wall time at ``step``."""
        state, meta = checkpoint_state(self.modules, {"opt": self.opt})
        tensors: dict[str, Tensor | np.ndarray] = dict(state)
        meta.update({"rng": numpy_rng_state(self.rng), "wall": time.time() - self.t0})
        save_checkpoint(self.folder, self.step, tensors, meta, keep=1)
        self.saved_at = self.step

    def save_if_due(self) -> None:
        """Checkpoint every ``checkpoint_every`` steps and at the last."""
        if self._due(self.cfg.checkpoint_every):
            self.save()

    def end_training(self) -> None:
        """After the last update: checkpoint it unless already saved, and note the minutes spent
        training (``train_minutes`` in the summary, apart from the evaluation's)."""
        if self.saved_at != self.step:
            self.save()
        self.train_minutes = (time.time() - self.t0) / 60

    def finish(self, results: dict[str, float]) -> dict[str, float]:
        """Log ``results`` as ``eval/<key>`` rows and write ``summary.json`` (steps, minutes,
        train_minutes, results); returns ``results``."""
        if self._log is None:
            raise RuntimeError("JEPALoop.finish called outside 'with loop.running(...)'")
        self._log.log(self.step, {f"eval/{k}": v for k, v in results.items()})
        summary: dict[str, Any] = {
            "steps": self.step,
            "minutes": (time.time() - self.t0) / 60,
            "train_minutes": self.train_minutes,
            **results,
        }
        atomic_write_text(self.run.path / "summary.json", json.dumps(summary, indent=2) + "\n")
        return results
