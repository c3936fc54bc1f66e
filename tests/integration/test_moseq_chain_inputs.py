"""What the MoSeq chain (moseq2-pca, moseq2-model, moseq2-viz 1.4.0) reads from our output,
read the way those tools read it (benchmarks/bench_moseq_chain.py runs the tools themselves;
these tests need none of them installed).

* the index: the groups a user gives the sessions survive ``agg-to-index``, which points
  ``pca_path`` at ``_pca/pca_scores.h5`` once apply-pca has written it (moseq2-viz refuses
  crowd movies and scalar tables with labels without it);
* the status files agree on ``crop_size`` and ``fps`` (moseq2-viz's crowd movies check it);
* ``/timestamps`` keeps the recording's gaps in ms, which moseq2-pca fills with NaN rows;
* moseq2-viz's crowd-movie rule (turn the crop back by ``angle``, undoing ``flips``, and paste
  it at the centroid in ROI-box pixels) puts our crop back over the raw frame's mouse.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from moseq2_extract.cli import cli

N = 150
GAP_AT, GAP_FRAMES = 90, 3  # the camera lost 3 frames before frame 90 of the first session


@pytest.fixture(scope="module")
def chain_input(tmp_path_factory):
    """Two extracted, aggregated .dat sessions; the first with a timestamp gap."""
    from moseq2_extract.synthetic import SessionSpec, write_session

    root = tmp_path_factory.mktemp("chain_input")
    for i in range(2):
        write_session(root / f"rec{i}", SessionSpec(n_frames=N, seed=60 + i,
                                                    session_name=f"rec{i}",
                                                    subject_name=f"mouse{i}"), fmt="dat")
    ts_file = root / "rec0" / "depth_ts.txt"
    rows = [ln.split() for ln in ts_file.read_text().splitlines()]
    period = (float(rows[-1][0]) - float(rows[0][0])) / (len(rows) - 1)
    for row in rows[GAP_AT:]:
        row[0] = f"{float(row[0]) + GAP_FRAMES * period:.3f}"
    ts_file.write_text("".join(" ".join(r) + "\n" for r in rows))
    runner = CliRunner()
    done = runner.invoke(cli, ["batch-extract", str(root), "--local-workers", "1",
                               "--no-report"])
    assert done.exit_code == 0, done.output
    agg = root / "aggregate_results"
    done = runner.invoke(cli, ["aggregate-results", "-i", str(root), "-o", str(agg)])
    assert done.exit_code == 0, done.output
    return root, agg


def _by_session(index):
    return {e["metadata"]["SessionName"]: e for e in index["files"]}


def test_agg_to_index_keeps_the_users_groups_and_finds_the_pca_scores(chain_input, tmp_path):
    src, _ = chain_input
    root = tmp_path / "exp"
    shutil.copytree(src, root, symlinks=True)
    index_file = root / "moseq2-index.yaml"
    index = yaml.safe_load(index_file.read_text())
    assert index["pca_path"] == ""  # as the original's aggregate-results writes it
    for entry in index["files"]:
        entry["group"] = "treated" if entry["metadata"]["SessionName"] == "rec0" else "ctrl"
    index_file.write_text(yaml.safe_dump(index))
    (root / "_pca").mkdir()
    with h5py.File(root / "_pca" / "pca_scores.h5", "w") as f:  # apply-pca's output
        f.create_group("scores")

    done = CliRunner().invoke(cli, ["agg-to-index", "-i", str(root / "aggregate_results")])
    assert done.exit_code == 0, done.output
    after = yaml.safe_load(index_file.read_text())
    assert after["pca_path"] == str(root / "_pca" / "pca_scores.h5")
    entries = _by_session(after)
    assert entries["rec0"]["group"] == "treated" and entries["rec1"]["group"] == "ctrl"
    # moseq2-model matches the scores' keys to the index's uuids; both read the h5 and yaml
    for entry in after["files"]:
        h5, yml = (root / "aggregate_results" / p.split("/")[-1] for p in entry["path"])
        with h5py.File(h5, "r") as f:
            assert f["metadata/uuid"][()].decode() == entry["uuid"]
        assert yaml.safe_load(yml.read_text())["uuid"] == entry["uuid"]


def test_status_files_agree_on_what_crowd_movies_check(chain_input):
    root, agg = chain_input
    index = yaml.safe_load((root / "moseq2-index.yaml").read_text())
    seen = set()
    for entry in index["files"]:
        status = yaml.safe_load(Path(entry["path"][1]).read_text())
        assert status["complete"] is True and status["skip"] is False
        params = status["parameters"]
        seen.add((tuple(params["crop_size"]), float(params["fps"])))
        with h5py.File(entry["path"][0], "r") as f:
            assert f["frames"].shape[1:] == tuple(params["crop_size"])
    assert seen == {((80, 80), 30.0)}


def test_timestamps_keep_the_recordings_gaps_for_moseq2_pca(chain_input):
    root, _ = chain_input
    entry = _by_session(yaml.safe_load((root / "moseq2-index.yaml").read_text()))["rec0"]
    recorded = np.loadtxt(root / "rec0" / "depth_ts.txt")[:, 0]
    with h5py.File(entry["path"][0], "r") as f:
        ts = f["timestamps"][()]
    np.testing.assert_array_equal(ts, recorded)  # ms, as moseq2-pca divides by 1000
    # moseq2-pca's gap rule: floor(gap / frame period) - 1 NaN rows after each gap
    missing = np.floor(np.diff(ts / 1000.0) / (1 / 30.0)) - 1
    assert np.flatnonzero(missing > 0).tolist() == [GAP_AT - 1]
    assert missing[GAP_AT - 1] == GAP_FRAMES


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_crowd_movie_rule_puts_our_crop_back_over_the_raw_mouse(chain_input):
    root, _ = chain_input
    entry = _by_session(yaml.safe_load((root / "moseq2-index.yaml").read_text()))["rec1"]
    truth = np.load(root / "rec1" / "ground_truth.npz")
    h, w = truth["background"].shape
    raw = np.fromfile(root / "rec1" / "depth.dat", dtype="<u2").reshape(-1, h, w)
    yy, xx = np.mgrid[:h, :w]
    with h5py.File(entry["path"][0], "r") as f:
        frames = f["frames"][()]
        cx, cy = f["scalars/centroid_x_px"][()], f["scalars/centroid_y_px"][()]
        angle = f["scalars/angle"][()].astype(np.float64)
        ext = f["metadata/extraction"]
        flips = ext["flips"][()] if "flips" in ext else np.zeros(len(angle), bool)
        ys, xs = np.nonzero(ext["roi"][()])
    c = frames.shape[1]
    scores, turned_scores = [], []
    for i in range(5, N - 5, 12):
        crop = np.rot90(frames[i], 2) if flips[i] else frames[i]
        theta = angle[i] - np.pi * flips[i]
        back = cv2.warpAffine(crop.astype(np.float32), cv2.getRotationMatrix2D(
            (c // 2, c // 2), float(np.rad2deg(theta)), 1), (c, c))
        mouse = (truth["background"] - raw[i].astype(np.float32)) > 10
        mouse &= (yy - truth["centroid_y"][i]) ** 2 + (xx - truth["centroid_x"][i]) ** 2 < 45 ** 2
        for pasted, out in ((back, scores), (np.rot90(back, 2), turned_scores)):
            canvas = np.zeros((h, w), bool)
            top, left = int(cy[i]) + ys.min() - c // 2, int(cx[i]) + xs.min() - c // 2
            canvas[top:top + c, left:left + c] = pasted > 10
            out.append(_iou(canvas, mouse))
    iou, turned = float(np.median(scores)), float(np.median(turned_scores))
    assert iou > 0.8 and iou > turned + 0.1, (iou, turned)
