"""The sequence assembler (pipeline/sequence.py): axis unwrapping, axis-jump switch
probabilities, median windows, heading decisions across chunks."""

import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.extract.chunk import FrameMeasures
from moseq2_extract.heading.model import shape_features
from moseq2_extract.pipeline.sequence import (
    SequenceAssembler,
    axis_jump_switch,
    nan_median_windows,
    unwrap_axis,
    unwrap_heading,
)

from ..heading.crops import C, mouse_crop


def test_unwrap_axis_keeps_continuity_over_nan():
    th = np.array([1.4, -1.5, np.nan, -1.45, 1.5])
    out = unwrap_axis(th, None)
    assert np.all(np.abs(np.diff(out[np.isfinite(out)])) < 0.3)
    assert np.isnan(out[2])
    np.testing.assert_allclose(np.mod(out[np.isfinite(out)] - th[np.isfinite(th)], np.pi), 0,
                               atol=1e-12)


def test_unwrap_continues_from_the_previous_block():
    out = unwrap_axis(np.array([-1.5, -1.4]), 1.5)
    np.testing.assert_allclose(out, [-1.5 + np.pi, -1.4 + np.pi])
    head = unwrap_heading(np.array([-3.1, 3.1]), 3.0)
    np.testing.assert_allclose(head, [-3.1 + 2 * np.pi, 3.1])


def test_axis_jump_switch():
    deg = np.radians([0.0, 10.0, np.nan, 70.0, 160.0])
    p = axis_jump_switch(deg, None)
    # jumps: none, 10, (gap), 60 since the last valid frame, 90
    np.testing.assert_allclose(p, [0, 0, 0, 0.25, 0.5])
    assert axis_jump_switch(np.radians([45.0]), 0.0)[0] == pytest.approx(0.125)


def test_nan_median_windows_matches_a_direct_computation():
    rng = np.random.default_rng(3)
    x = rng.random(40)
    x[rng.random(40) < 0.3] = np.nan
    half = 3
    got = nan_median_windows(x, half, 5, 30)
    for i, g in enumerate(got):
        t = 5 + i
        w = x[max(0, t - half):t + half + 1]
        w = w[np.isfinite(w)]
        assert (np.isnan(g) and len(w) == 0) or g == pytest.approx(np.median(w))


# ---------------------------------------------------------------- the sequence assembler
def simulated_measures(n=700, seed=0):
    """A mouse walking, pausing, turning on the spot and rearing, with a gap and junk frames.

    Returns the per-frame measures as the chunk step would cut them (crops along the
    moment axis, which is only defined modulo pi) and the true heading.
    """
    rng = np.random.default_rng(seed)
    heading = np.empty(n)
    speed = np.zeros(n)
    rear = np.zeros(n)
    a = rng.uniform(-np.pi, np.pi)
    for t in range(n):
        phase = (t // 70) % 4  # walk, pause, turn in place, rear
        if phase == 0:
            a += rng.normal(0, 0.03)
            speed[t] = 2.0
        elif phase == 2:
            a += 0.09
        elif phase == 3:
            rear[t] = min(1.0, (t % 70) / 10)
        heading[t] = a
    x = 200 + np.cumsum(speed * np.cos(heading))
    y = 200 - np.cumsum(speed * np.sin(heading))
    orientation = np.mod(heading + np.pi / 2, np.pi) - np.pi / 2
    east = np.cos(heading - orientation) > 0
    crops = np.zeros((n, C, C), np.uint8)
    masks = np.zeros((n, C, C), bool)
    for t in range(n):
        crops[t], masks[t] = mouse_crop(head_east=bool(east[t]), rear=rear[t], noise=1.5,
                                        rng=rng)
    gap = slice(420, 445)  # mouse not found
    for arr in (x, y, orientation):
        arr[gap] = np.nan
    crops[gap], masks[gap] = 0, False
    junk = np.array([150, 151, 333, 590])  # segmentation failures: a noisy blob, random axis
    for t in junk:
        blob = rng.normal(25, 8, (C, C)) * (np.hypot(*(np.mgrid[:C, :C] - C / 2)) < 12)
        masks[t] = blob > 10
        crops[t] = np.where(masks[t], np.clip(blob, 0, 255), 0).astype(np.uint8)
        orientation[t] = rng.uniform(-np.pi / 2, np.pi / 2)
    heading[junk] = np.nan
    m = FrameMeasures(x=x, y=y, orientation=orientation, major=np.full(n, 57.0),
                      minor=np.full(n, 25.0), area=masks.sum((1, 2)).astype(float),
                      height=np.full(n, 30.0), crops=crops, filtered_crops=crops.copy(),
                      masks=masks)
    return m, heading, gap


def run_assembler(m, chunk, **kw):
    asm = SequenceAssembler(camera=KINECT, true_depth=670.0, box_origin=(0, 0), lag=120, **kw)
    n = len(m)
    results = []
    for a in range(0, n, chunk):
        sl = slice(a, min(n, a + chunk))
        part = FrameMeasures(**{k: getattr(m, k)[sl].copy()
                                for k in FrameMeasures.__dataclass_fields__})
        asm.add(np.arange(sl.start, sl.stop), part, np.zeros((sl.stop - a, 2, 2), np.uint8))
        results += asm.pop_ready(final=sl.stop == n)
    return results


def concat(results, name):
    if name in ("frames", "masks", "flips", "heading_confidence", "frame_index"):
        return np.concatenate([getattr(r, name) for r in results])
    return np.concatenate([r.scalars[name] for r in results])


@pytest.fixture(scope="module")
def simulated():
    return simulated_measures()


def test_assembler_resolves_heading_in_every_posture(simulated):
    m, heading, gap = simulated
    res = run_assembler(m, 64)
    assert concat(res, "frame_index").tolist() == list(range(len(m)))
    angle = concat(res, "angle").astype(float)
    found = np.isfinite(angle)
    assert found.sum() == len(m) - (gap.stop - gap.start)
    ok = found & np.isfinite(heading)  # junk frames have no true heading
    err = np.abs(np.angle(np.exp(1j * (angle[ok] - heading[ok]))))
    assert np.all(err < np.radians(5))
    # every stored crop faces east: its narrow end (head) is on the right
    frames, masks = concat(res, "frames"), concat(res, "masks")
    f = shape_features(frames[ok], masks[ok])
    assert np.all(f.width_asymmetry > 0.03)
    conf = concat(res, "heading_confidence")
    assert np.all(conf[ok] > 0.99) and np.all(conf[~found] == 0)
    flips = concat(res, "flips")
    assert not flips[~found].any() and 0 < flips.sum() < ok.sum()


def test_assembler_output_does_not_depend_on_chunk_size(simulated):
    m, _, _ = simulated
    a, b = run_assembler(m, 37), run_assembler(m, 256)
    for name in ("flips", "heading_confidence", "frames", "angle"):
        np.testing.assert_array_equal(concat(a, name), concat(b, name))


def test_assembler_without_heading_keeps_the_axis(simulated):
    m, heading, _ = simulated
    res = run_assembler(m, 100, use_heading=False)
    assert not concat(res, "flips").any()
    angle = concat(res, "angle").astype(float)
    ok = np.isfinite(angle) & np.isfinite(heading)
    err = np.abs(np.angle(np.exp(1j * (angle[ok] - heading[ok]))))
    assert np.all((err < 0.1) | (err > np.pi - 0.1))  # right axis, either direction


class NoisyClassifier:
    """Log-odds that a crop faces west from its width profile, wrong on 6-frame bouts."""

    def __init__(self, smoothing):
        self.smoothing = smoothing
        self.calls = 0

    def __call__(self, crops):
        f = shape_features(crops, crops > 0)
        logodds = -np.sign(f.width_asymmetry) * 6.0
        rows = np.arange(self.calls, self.calls + len(crops))
        self.calls += len(crops)
        return np.where(rows % 40 // 6 == 3, -logodds, logodds)  # rows 18-23 of every 40


def heading_errors(results, heading):
    angle = concat(results, "angle").astype(float)
    ok = np.isfinite(angle) & np.isfinite(heading)
    return np.abs(np.angle(np.exp(1j * (angle[ok] - heading[ok])))) > np.pi / 2


def test_classifier_is_median_smoothed_across_chunks(simulated):
    m, heading, gap = simulated
    motionless = FrameMeasures(**{**m.__dict__, "x": np.where(np.isfinite(m.x), 200.0, np.nan),
                                  "y": np.where(np.isfinite(m.y), 200.0, np.nan)})
    runs = {(chunk, window): run_assembler(motionless, chunk,
                                            flip_model=NoisyClassifier(smoothing=window))
            for chunk, window in ((29, 15), (256, 15), (256, 1))}
    # unsmoothed, the 6-frame bouts of confident wrong outputs win over the HMM ...
    assert heading_errors(runs[256, 1], heading).sum() >= 30
    # ... a 15-frame median removes them, with windows spanning chunk boundaries
    for key in ((29, 15), (256, 15)):
        assert not heading_errors(runs[key], heading).any()
    for name in ("flips", "heading_confidence"):
        np.testing.assert_array_equal(concat(runs[29, 15], name), concat(runs[256, 15], name))
