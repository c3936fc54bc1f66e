"""Training-free heading: evidence terms, the streaming HMM and the sequence assembler."""

import math

import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.extract.chunk import FrameMeasures
from moseq2_extract.heading import model as hd
from moseq2_extract.heading.model import (
    HeadingSmoother,
    HeightReference,
    motion_evidence,
    rearing_weight,
    shape_evidence,
    shape_features,
)
from moseq2_extract.pipeline.sequence import (
    P_SWITCH_TRACKED,
    SequenceAssembler,
    axis_jump_switch,
    nan_median_windows,
)

C = 80
MM_PER_PX = 670.0 / KINECT.fx


def mouse_crop(c=C, *, head_east=True, rear=0.0, scale=1.0, noise=0.0, rng=None):
    """A top-down height crop of a mouse centred in the crop (mm, uint8) and its mask.

    Rump, thorax and head ellipsoids: the rump is wider than the head always and higher
    than it unless rearing (``rear`` = 1 lifts the head and thorax above the rump).
    """
    yy, xx = np.mgrid[:c, :c] - (c - 1) / 2
    u = (xx if head_east else -xx) / scale
    v = yy / scale
    parts = [(-9.0, 19.0, 13.5, 46.0),
             (7.5 - 6 * rear, 16.0 - 4 * rear, 11.0, 36.0 + 40 * rear),
             (20.5 - 9 * rear, 10.0 - 1.5 * rear, 8.0, 27.0 + 65 * rear)]
    h = np.zeros((c, c))
    for s0, a, b, top in parts:
        h = np.maximum(h, top * np.sqrt(np.clip(1 - ((u - s0) / a) ** 2 - (v / b) ** 2, 0, None)))
    if noise:
        h = h + (rng or np.random.default_rng(0)).normal(0, noise, h.shape)
    mask = h > 10
    return np.where(mask, np.clip(h, 0, 255), 0).astype(np.uint8), mask


def stack(*pairs):
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def test_width_and_height_cues_point_to_the_head_and_turn_with_the_crop():
    crops, masks = stack(mouse_crop(), mouse_crop(scale=0.7, noise=2.0),
                         mouse_crop(head_east=False))
    f = shape_features(crops, masks)
    assert np.all(f.width_asymmetry[:2] > 0.05) and f.width_asymmetry[2] < -0.05
    assert np.all(f.height_asymmetry[:2] > 0.1) and f.height_asymmetry[2] < -0.1
    turned = shape_features(crops[:, ::-1, ::-1].copy(), masks[:, ::-1, ::-1].copy())
    np.testing.assert_allclose(turned.width_asymmetry, -f.width_asymmetry, atol=1e-12)
    np.testing.assert_allclose(turned.height_asymmetry, -f.height_asymmetry, atol=1e-12)
    np.testing.assert_array_equal(turned.max_height, f.max_height)
    ev = shape_evidence(crops, masks)
    assert ev[0] > 2 and ev[1] > 2 and ev[2] < -2


def test_rearing_reverses_the_height_cue_but_not_the_decision():
    walk, walk_mask = mouse_crop()
    rear, rear_mask = mouse_crop(rear=1.0)
    f = shape_features(np.stack([walk, rear]), np.stack([walk_mask, rear_mask]))
    assert f.height_asymmetry[1] < 0 < f.height_asymmetry[0]  # the front is higher when rearing
    assert f.width_asymmetry[1] > 0  # ... but the rump is still the wide end
    usual = f.max_height[0]
    assert rearing_weight(f.max_height, np.full(2, usual)).tolist() == [1.0, 0.0]
    gated = shape_evidence(rear[None], rear_mask[None], usual_height=usual)
    ungated = shape_evidence(rear[None], rear_mask[None])
    assert gated[0] > 1.0 and gated[0] > ungated[0] + 0.5


def test_rearing_weight_fades_between_thresholds():
    ratio = np.array([0.5, hd.REAR_START, (hd.REAR_START + hd.REAR_FULL) / 2, hd.REAR_FULL,
                      2.0])
    np.testing.assert_allclose(rearing_weight(ratio * 40, np.full(5, 40.0)),
                               [1, 1, 0.5, 0, 0], atol=1e-9)


def test_shape_evidence_is_zero_without_a_mouse():
    crops = np.zeros((2, C, C), np.uint8)
    assert shape_evidence(crops, crops > 0).tolist() == [0.0, 0.0]


def test_motion_evidence_needs_clear_motion_along_the_axis():
    px = lambda mm: mm / MM_PER_PX  # noqa: E731
    dx = np.array([px(4.0), -px(4.0), px(1.0), -px(1.2), 0.0, 0.0, np.nan])
    dy = np.array([0.0, 0.0, 0.0, 0.0, px(4.0), 0.0, 0.0])
    ev = motion_evidence(dx, dy, np.zeros(7), mm_per_px=MM_PER_PX)
    assert ev[0] == pytest.approx(hd.MOTION_WEIGHT) and ev[1] == pytest.approx(-hd.MOTION_WEIGHT)
    assert ev[2:].tolist() == [0.0] * 5  # slow drift, sideways, still, unknown
    # heading 90 degrees = up on screen = negative image y
    up = motion_evidence(np.array([0.0]), np.array([-px(4.0)]), np.array([np.pi / 2]),
                         mm_per_px=MM_PER_PX)
    assert up[0] == pytest.approx(hd.MOTION_WEIGHT)


def test_height_reference_is_a_causal_low_quantile_independent_of_blocks():
    rng = np.random.default_rng(1)
    tops = np.where(rng.random(500) < 0.2, rng.uniform(60, 90, 500), rng.uniform(38, 46, 500))
    valid = rng.random(500) > 0.05
    whole = HeightReference().update(tops, valid)
    ref = HeightReference()
    parts = np.concatenate([ref.update(tops[a:a + 37], valid[a:a + 37])
                            for a in range(0, 500, 37)])
    np.testing.assert_array_equal(whole, parts)
    # equals the 30 % quantile of the frames seen so far, to the bin width
    for t in (20, 100, 499):
        seen = np.sort(tops[:t + 1][valid[:t + 1]])
        q = seen[int(math.ceil(0.3 * len(seen))) - 1]
        assert abs(whole[t] - q) <= 2.0
    assert whole[-1] < 47  # rearing (20 % of frames) does not raise the usual height


def _posterior_flips(evidence, p_switch, *, lag=100, block=37):
    s = HeadingSmoother(lag=lag)
    out = []
    for a in range(0, len(evidence), block):
        s.push(evidence[a:a + block], p_switch[a:a + block])
        out.append(s.decide(final=a + block >= len(evidence)))
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


def test_smoother_decisions_do_not_depend_on_block_size():
    rng = np.random.default_rng(0)
    n = 1000
    truth = (np.arange(n) // 400) % 2 == 1
    ev = np.where(truth, -0.6, 0.6) + rng.normal(0, 1.5, n)
    sw = np.full(n, P_SWITCH_TRACKED)
    sw[400] = sw[800] = 0.5
    a, conf_a = _posterior_flips(ev, sw, block=37)
    b, conf_b = _posterior_flips(ev, sw, block=250)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(conf_a, conf_b)
    assert len(a) == n and (a == truth).mean() > 0.97
    assert np.all((conf_a >= 0.5) & (conf_a <= 1))


def test_smoother_waits_for_its_lookahead():
    s = HeadingSmoother(lag=50, block=16)
    s.push(np.ones(60), np.full(60, P_SWITCH_TRACKED))
    flips, _ = s.decide()
    assert len(flips) == 0  # frame 15 (end of the first block) needs frames up to 65
    s.push(np.ones(10), np.full(10, P_SWITCH_TRACKED))
    assert len(s.decide()[0]) == 16
    assert len(s.decide(final=True)[0]) == 54


def test_smoother_outvotes_a_short_wrong_bout_and_follows_a_real_switch():
    n = 600
    ev = np.full(n, 2.0)
    ev[100:104] = -2.0  # brief wrong evidence (e.g. a noisy posture)
    ev[300:] = -2.0  # the ends really swapped at frame 300 (axis jump)
    sw = np.full(n, P_SWITCH_TRACKED)
    sw[300] = 0.25
    flips, conf = _posterior_flips(ev, sw)
    assert not flips[:300].any()
    assert flips[300:].all()
    assert conf[50] > 0.999 and conf[102] < conf[50]


def test_smoother_keeps_the_heading_through_frames_without_evidence():
    ev = np.r_[np.full(50, -2.0), np.zeros(200), np.full(50, -2.0)]
    flips, conf = _posterior_flips(ev, np.full(300, P_SWITCH_TRACKED))
    assert flips.all() and conf.min() > 0.9


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
