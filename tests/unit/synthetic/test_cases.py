"""Hard cases of the synthetic generator (tether, patch cord, hand, dropouts) against their
geometry: the same mouse as the clean session, drawn objects where declared, nothing else."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import cv2
import numpy as np
import pytest

from moseq2_extract.errors import ConfigError
from moseq2_extract.synthetic import GroundTruth, SessionSpec, SyntheticSession
from moseq2_extract.synthetic.cases import (
    CASES,
    CORD_RANGE_LIMIT_MM,
    DROPOUT_BLOB_FRAME_RATE,
    DROPOUT_BLOB_MIN_FRACTION,
)

# sha256 of SessionSpec(seed=3, n_frames=40).render(), computed before the cases existed.
CLEAN_SEED3_SHA256 = "d3027926be4926cbc209fd418e67d0846b0c24bfd4a1a02fbe9e178d4f9c9819"


def _pair(case: str, n: int, seed: int = 3, **kw):
    spec = SessionSpec(n_frames=n, seed=seed, case=case, **kw)
    return SyntheticSession(spec), SyntheticSession(replace(spec, case="clean"))


def _silhouette(session: SyntheticSession, i: int) -> np.ndarray:
    """Full-frame body+head silhouette of the truth (true height > 10 mm, no tail)."""
    x0, y0, h = session._body_patch(i)
    out = np.zeros((session.height, session.width), dtype=bool)
    out[y0: y0 + h.shape[0], x0: x0 + h.shape[1]] = h > 10
    return out


def _check_occlusion(case_s, i, frame, clean_frame):
    """Noise-free: the truth's hidden fraction is the silhouette share that changed."""
    sil = _silhouette(case_s, i)
    measured = float(np.mean(frame[sil] != clean_frame[sil]))
    assert case_s.ground_truth().occluded_fraction[i] == pytest.approx(measured, abs=1e-12)
    return measured


def test_clean_frames_are_unchanged():
    for kw in ({}, {"case": "clean"}):
        frames = SyntheticSession(SessionSpec(seed=3, n_frames=40, **kw)).render()
        assert hashlib.sha256(frames.tobytes()).hexdigest() == CLEAN_SEED3_SHA256
    gt = SyntheticSession(SessionSpec(seed=3, n_frames=40)).ground_truth()
    assert gt.case == "clean" and not gt.intrusion.any() and not gt.occluded_fraction.any()


def test_case_is_validated():
    with pytest.raises(ConfigError, match="case"):
        SyntheticSession(SessionSpec(n_frames=5, case="cable"))


@pytest.mark.parametrize("case", CASES[1:])
def test_case_is_chunk_independent_and_changes_nothing_else(case):
    case_s, clean_s = _pair(case, 40, seed=5)        # default noise and dropouts
    whole = case_s.render()
    spec = case_s.spec
    halves = np.concatenate([SyntheticSession(spec).render(0, 23),
                             SyntheticSession(spec).render(23, 40)])
    np.testing.assert_array_equal(halves, whole)
    reused = [c.copy() for c in SyntheticSession(spec).iter_chunks(9, reuse_buffer=True)]
    np.testing.assert_array_equal(np.concatenate(reused), whole)
    clean = clean_s.render()
    gt, clean_gt = case_s.ground_truth(), clean_s.ground_truth()
    for name in ("centroid_x", "centroid_y", "angle", "height_mean_mm", "length_px",
                 "area_px", "state", "timestamps_ms", "background"):
        np.testing.assert_array_equal(getattr(gt, name), getattr(clean_gt, name))
    assert gt.case == case and clean_gt.case == "clean"
    changed_frames = 0
    for i in range(40):
        drawn = case_s.case_layer(i).drawn(case_s.height, case_s.width)
        np.testing.assert_array_equal(whole[i][~drawn], clean[i][~drawn])
        diff = whole[i] != clean[i]
        # What the case changes is nearer to the camera than the scene, or invalid; objects
        # over a permanently invalid background pixel are seen.
        a, b = whole[i][diff], clean[i][diff]
        assert np.all((a < b) | (a == 0) | ((b == 0) & (gt.background[diff] == 0)))
        changed_frames += bool(diff.any())
    # hand: placing the mouse; object: in the arena from 35 % to 60 % of the session
    assert changed_frames >= {"dropouts": 15, "object": 10}.get(case, 40)


def _cable_frames(case: str, frames):
    """Per frame: case heights above the floor plane, changed mask, clean heights."""
    case_s, clean_s = _pair(case, 80, noise_mm=0.0, dropout_rate=0.0)
    plane = case_s._scene.plane
    for i in frames:
        f = case_s.render(i, i + 1)[0]
        c = clean_s.render(i, i + 1)[0]
        _check_occlusion(case_s, i, f, c)
        yield i, f, f != c, plane - f.astype(np.float32), plane - c.astype(np.float32), case_s


def _connected_to_head(changed, heights, clean_h, case_s, i):
    """One 8-connected piece whose lowest point sits on the head a little above it."""
    n, labels = cv2.connectedComponents(changed.astype(np.uint8), connectivity=8)
    sizes = np.bincount(labels[changed])
    assert sizes.max() >= 0.99 * changed.sum(), (i, n, sizes)
    gt = case_s.ground_truth()
    u = np.array([np.cos(gt.angle[i]), -np.sin(gt.angle[i])])
    head = np.array([gt.centroid_x[i], gt.centroid_y[i]]) + 0.5 * gt.length_px[i] * u
    ys, xs = np.nonzero(changed)
    h = heights[ys, xs]
    low = h <= h.min() + 0.5
    # The connector (the lowest part) is on the head, 10-15 px behind the nose.
    d_low = np.hypot(xs[low] - head[0], ys[low] - head[1])
    assert d_low.min() < 16, (i, d_low.min())
    above = h.min() - clean_h[ys[low], xs[low]].max()
    assert 3.5 <= above <= 13.0, (i, above)
    conn = np.array([xs[low].mean(), ys[low].mean()])
    return xs, ys, h, np.hypot(xs - conn[0], ys - conn[1])


def _rises(d, h, tol=1.0):
    """Beyond the (flat) connector, median heights over distance deciles never fall (by
    more than ``tol`` mm)."""
    cable = d > 6.0
    if cable.sum() < 20:
        return None
    d, h = d[cable], h[cable]
    edges = np.quantile(d, np.linspace(0, 1, 11))
    med = [np.median(h[(d >= a) & (d <= b)]) for a, b in zip(edges[:-1], edges[1:])]
    assert np.all(np.diff(med) >= -tol), med
    return med


def test_tether_hangs_from_the_head_rises_and_tapers():
    for i, _f, changed, heights, clean_h, case_s in _cable_frames("tether", range(0, 80, 8)):
        xs, ys, h, d = _connected_to_head(changed, heights, clean_h, case_s, i)
        med = _rises(d, h)
        assert med is not None and med[-1] > med[0] + 80 and h.max() >= 140, med
        near = np.sum((d >= 12) & (d < 32)) / 20.0
        far = np.sum((d >= d.max() - 40) & (d < d.max() - 10)) / 30.0
        # 9-11 px near the head (wider than the default tail filter), 3-4 px far from it
        assert 8.0 <= near <= 12.5 and 2.5 <= far <= 5.0 and near > far + 3.0, (i, near, far)


def test_patch_cord_is_thin_rises_and_goes_out_of_range():
    with_zeros = 0
    for i, f, changed, heights, clean_h, case_s in _cable_frames("patch_cord",
                                                               range(0, 80, 8)):
        xs, ys, h, d = _connected_to_head(changed, heights, clean_h, case_s, i)
        visible = f[ys, xs] > 0
        assert np.all(h[visible] <= CORD_RANGE_LIMIT_MM + 0.5)
        _rises(d[visible], h[visible])
        # Thin: 1-2 px wide beyond the connector.
        cord = visible & (d > 6)
        if cord.sum() > 10:
            assert cord.sum() / (d[cord].max() - 6) <= 2.3, i
        if (~visible).any():
            with_zeros += 1
            # The out-of-range (zero) part is the far end of the cord.
            assert d[~visible].min() >= d[visible].max() - 2.0, i
    assert with_zeros >= 5


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def test_hand_is_in_view_exactly_in_the_intrusion_frames():
    case_s, clean_s = _pair("hand", 240, noise_mm=0.0, dropout_rate=0.0)
    gt = case_s.ground_truth()
    frames, clean = case_s.render(), clean_s.render()
    changed = np.any(frames != clean, axis=(1, 2))
    np.testing.assert_array_equal(changed, gt.intrusion)
    (a0, a1), (b0, b1) = _runs(gt.intrusion)
    assert a0 == 0 and 50 <= a1 <= 70                      # placing the mouse
    assert 60 <= b1 - b0 <= 90 and abs((b0 + b1) / 2 - 120) <= 20
    plane = case_s._scene.plane
    gaps = []
    for i in np.flatnonzero(gt.intrusion)[::4]:
        diff = frames[i] != clean[i]
        h = plane[diff] - frames[i][diff]
        assert h.max() >= 150                               # the arm, high up
        _check_occlusion(case_s, i, frames[i], clean[i])
        if h.min() <= 40:                                   # hand down (not lifted)
            sil = _silhouette(case_s, i)
            hand = diff & (plane - frames[i] <= 65)
            assert hand.sum() >= 0.8 * sil.sum()            # about mouse-sized or bigger
            dist = cv2.distanceTransform((~sil).astype(np.uint8), cv2.DIST_L2, 5)
            gaps.append(float(dist[hand].min()))
    gaps = np.array(gaps)
    assert len(gaps) >= 10 and gaps.max() <= 40 and gaps.min() <= 1.5, gaps


def test_dropouts_zero_the_declared_share_of_the_mouse():
    case_s, clean_s = _pair("dropouts", 150, noise_mm=0.0, dropout_rate=0.0)
    frames, clean = case_s.render(), clean_s.render()
    strel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    blob_frames = bands = 0
    for i in range(150):
        layer = case_s.case_layer(i)
        sil = _silhouette(case_s, i)
        zeroed = (frames[i] == 0) & (clean[i] != 0)
        frac = _check_occlusion(case_s, i, frames[i], clean[i])
        mouse = np.zeros_like(sil)
        x0, y0, hp = case_s._mouse_heights(i)
        mouse[y0: y0 + hp.shape[0], x0: x0 + hp.shape[1]] = hp > 0
        if layer.band:
            bands += 1
            rows = np.flatnonzero(zeroed[:, mouse.any(0)].all(1))
            assert len(rows) >= 2
        else:
            assert not np.any(zeroed & ~mouse)              # only on the mouse
        if layer.blobs:
            blob_frames += 1
            assert frac >= DROPOUT_BLOB_MIN_FRACTION, (i, frac)
        elif layer.ring and not layer.band:
            core = cv2.erode((hp > 10).astype(np.uint8), strel).view(bool)
            assert zeroed.any()
            assert not np.any(zeroed[y0: y0 + hp.shape[0], x0: x0 + hp.shape[1]] & core)
        elif not layer.band:
            assert not zeroed.any()
    assert abs(blob_frames / 150 - DROPOUT_BLOB_FRAME_RATE) <= 0.12 and bands >= 1


def test_case_truth_save_load_and_older_files(tmp_path):
    gt = SyntheticSession(SessionSpec(n_frames=20, seed=3, case="hand")).ground_truth()
    assert gt.intrusion.all() and gt.intrusion.dtype == bool
    back = GroundTruth.load(gt.save(tmp_path / "gt.npz"))
    assert back.case == "hand"
    np.testing.assert_array_equal(back.intrusion, gt.intrusion)
    np.testing.assert_array_equal(back.occluded_fraction, gt.occluded_fraction)
    with np.load(tmp_path / "gt.npz") as z:
        old = {k: z[k] for k in z.files if k not in ("case", "intrusion",
                                                     "occluded_fraction")}
    np.savez(tmp_path / "old.npz", **old)
    older = GroundTruth.load(tmp_path / "old.npz")
    assert older.case == "clean" and older.intrusion.shape == (20,)
    assert not older.intrusion.any() and not older.occluded_fraction.any()
    np.testing.assert_array_equal(older.centroid_x, gt.centroid_x)


def test_demo_case_option(monkeypatch):
    from click.testing import CliRunner

    import moseq2_extract.synthetic.demo as demo_mod
    from moseq2_extract.cli.main import cli

    seen = {}

    def fake_run_demo(directory, **kw):
        seen.update(kw)
        return "report"

    monkeypatch.setattr(demo_mod, "run_demo", fake_run_demo)
    demo_cmd = cli.commands["demo"]
    choices = next(p for p in demo_cmd.params if p.name == "case").type.choices
    assert tuple(choices) == CASES
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "d", "--frames", "5", "--case", "tether"])
    assert result.exit_code == 0, result.output
    assert seen["case"] == "tether" and seen["n_frames"] == 5
    result = runner.invoke(cli, ["demo", "d"])
    assert result.exit_code == 0 and seen["case"] == "clean"
    assert runner.invoke(cli, ["demo", "d", "--case", "cable"]).exit_code == 2


def test_write_session_writes_the_case(tmp_path):
    from moseq2_extract.synthetic import write_session

    spec = SessionSpec(n_frames=6, seed=2, case="tether")
    path = write_session(tmp_path, spec, fmt="dat")
    frames = np.fromfile(path, dtype="<u2").reshape(6, 424, 512)
    np.testing.assert_array_equal(frames, SyntheticSession(spec).render())
    truth = GroundTruth.load(tmp_path / "ground_truth.npz")
    assert truth.case == "tether" and np.all(truth.occluded_fraction > 0)
