"""Plots: one way to finish and save a matplotlib figure (headless, atomic)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # plots are files here, never windows
from matplotlib.figure import Figure

from dreamlab.train.files import atomic_write_bytes

__all__ = ["save_figure"]


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Lay out the figure, add the legend if any artist is labelled, write it atomically, close it."""
    import matplotlib.pyplot as plt

    for ax in fig.axes:
        if any(not label.startswith("_") for label in ax.get_legend_handles_labels()[1]):
            ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    path = Path(path)
    fig.savefig(buffer, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
