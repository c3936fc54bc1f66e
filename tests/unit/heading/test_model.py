"""Training-free heading (heading/model.py): evidence terms, the height reference, the
streaming HMM smoother."""

import math

import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.heading import model as hd
from moseq2_extract.heading.model import (
    HeadingSmoother,
    HeightReference,
    motion_evidence,
    rearing_weight,
    shape_evidence,
    shape_features,
)
from moseq2_extract.pipeline.sequence import P_SWITCH_TRACKED

from .crops import C, mouse_crop

MM_PER_PX = 670.0 / KINECT.fx


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


def test_a_cable_points_to_the_head_and_says_nothing_near_the_centre():
    from moseq2_extract.heading.model import CABLE_WEIGHT, cable_evidence

    ev = cable_evidence(np.array([20.0, -20.0, 2.0, np.nan, 7.0]))
    assert ev[0] == CABLE_WEIGHT and ev[1] == -CABLE_WEIGHT  # the root's end is the head
    assert ev[2] == 0.0 and ev[3] == 0.0  # beside the centre / no cable: nothing
    assert 0.0 < ev[4] < CABLE_WEIGHT
