"""Pictures and result files."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from dreamlab.eval.results import now, spread, write_results
from dreamlab.viz.video import label_frame, side_by_side, write_video


def test_side_by_side_joins_columns_and_holds_the_last_frame() -> None:
    real = [np.full((10, 8, 3), i, dtype=np.uint8) for i in range(3)]
    dream = [np.full((6, 5, 3), 100 + i, dtype=np.uint8) for i in range(5)]
    frames = side_by_side([real, dream], ["reality", "dream"], gap=2)
    assert len(frames) == 5
    assert frames[0].shape == (10 + 14, 8 + 2 + 5, 3) and frames[0].dtype == np.uint8
    assert (frames[4][14:24, :8] == 2).all()  # reality holds its last frame
    assert (frames[4][14:20, 10:] == 104).all()
    with pytest.raises(ValueError):
        side_by_side([real], ["a", "b"])


def test_label_frame_rejects_float_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        label_frame(np.zeros((4, 4, 3)), "x")


def test_write_video_round_trips_a_gif(tmp_path: Path) -> None:
    frames = [np.full((16, 16, 3), v, dtype=np.uint8) for v in (0, 128, 255)]
    path = write_video(tmp_path / "v.gif", frames, fps=5)
    back = iio.imread(path, index=None)
    assert back.shape[:3] == (3, 16, 16)
    assert [int(f[..., :3].mean()) for f in back] == [0, 128, 255]


def test_spread_and_results_file(tmp_path: Path) -> None:
    assert spread([1, 2, 3]) == {"mean": 2.0, "std": pytest.approx(0.816496580927726), "n": 3}
    with pytest.raises(ValueError):
        spread([])
    record = write_results(tmp_path / "r.json", "b", "python b.py", now(), 1.5, [0, 1], {"x": True})
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk == record
    assert set(on_disk) == {
        "benchmark",
        "command",
        "commit",
        "machine",
        "started",
        "wall_seconds",
        "seeds",
        "metrics",
    }
    assert on_disk["machine"]["cores"] >= 1


def test_save_figure_writes_a_png_and_closes_the_figure(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from dreamlab.viz.plots import save_figure

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], label="a line")
    path = save_figure(fig, tmp_path / "sub" / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ax.get_legend() is not None  # labelled artists get a legend
    assert not plt.fignum_exists(fig.number)


def test_format_metric_and_report(tmp_path: Path) -> None:
    from dreamlab.eval.results import format_metric, write_report

    assert format_metric({"mean": -134.04, "std": 85.66, "n": 20}) == "-134.0 ± 85.7 (n = 20)"
    assert format_metric(3120433) == "3,120,433"
    assert format_metric(57.726) == "57.7"
    assert format_metric(204198.0) == "204,198"
    assert format_metric({"seed0": 24000, "seed1": None}) == "seed0: 24,000, seed1: None"
    assert format_metric(True) == "True"
    record = write_results(tmp_path / "r.json", "b", "python b.py", now(), 2.0, [0], {"x": 0.5})
    write_report(tmp_path / "r.md", record, "Title", [("the x", "x", ">= 0.4")], ["A note."])
    text = (tmp_path / "r.md").read_text()
    assert text.startswith("# Title\n") and "| the x | 0.5 | >= 0.4 |" in text and "A note." in text
