"""Dropped frames, runs, quality masks and the batch's outlier rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moseq2_extract.extract.quality import Quality
from moseq2_extract.report.metrics import (
    SessionSummary,
    dropped_frames,
    flag_masks,
    mark_outliers,
    robust_z,
    runs,
)


def test_dropped_frames_counts_the_missing_frames_of_each_gap():
    fps = 30.0
    frames = np.delete(np.arange(100), [10, 11, 12, 50])  # 3 frames lost, then 1
    gaps = dropped_frames(frames / fps, fps)
    assert gaps.after.tolist() == [9, 46]
    assert gaps.missing.tolist() == [3, 1]
    assert gaps.total == 4
    assert np.isclose(gaps.percent(frames.size), 4.0)


def test_dropped_frames_ignores_jitter_and_short_input():
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30.0 + rng.uniform(-0.004, 0.004, 300)
    assert dropped_frames(t, 30.0).total == 0
    assert dropped_frames(np.zeros(1), 30.0).total == 0


def test_runs_are_half_open_ranges():
    mask = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert runs(mask) == [(0, 2), (4, 5), (6, 9)]
    assert runs(np.zeros(4, bool)) == []


def test_flag_masks_split_the_bit_flags():
    q = np.array([0, Quality.INTRUSION | Quality.NOT_LARGEST, Quality.INTRUSION, 0], np.uint8)
    masks = flag_masks(q)
    assert set(masks) == {"intrusion", "not_largest"}
    assert masks["intrusion"].tolist() == [False, True, True, False]
    assert masks["not_largest"].tolist() == [False, True, False, False]
    assert flag_masks(None) == {}


def _row(name: str, *, area: float = 3600.0, speed: float = 60.0,
         dropped: float | None = 0.0, flagged: float | None = 0.0,
         missing: float = 0.0) -> SessionSummary:
    return SessionSummary(name=name, subject="m", h5_path=Path(name), report=None,
                          n_frames=100, duration_s=3.3, dropped_pct=dropped,
                          speed_mm_s=speed, area_mm2=area, height_mm=30.0,
                          missing_pct=missing, flagged_pct=flagged, heading_confidence=0.9)


def test_outlier_rules():
    rows = [_row("a", area=3600), _row("b", area=3500), _row("c", area=3700),
            _row("d", area=1500), _row("e", dropped=6.0), _row("f", speed=400.0),
            _row("g", flagged=20.0, missing=7.0), _row("h", dropped=None, flagged=None)]
    mark_outliers(rows)
    reasons = {r.name: r.outliers for r in rows}
    assert reasons["a"] == reasons["b"] == reasons["c"] == reasons["h"] == []
    assert any(r.startswith("area far below") for r in reasons["d"])
    assert reasons["e"] == ["dropped frames 6.0% >= 5%"]
    assert any(r.startswith("speed far above") for r in reasons["f"])
    assert len(reasons["g"]) == 2


def test_near_identical_sessions_do_not_flag_each_other():
    rows = [_row(str(i), area=3600 + i) for i in range(5)]
    assert all(not r.outliers for r in mark_outliers(rows))
    z = robust_z(np.array([1.0, 1.0, 1.0, np.nan]))
    assert np.isnan(z[-1]) and np.allclose(z[:3], 0)
