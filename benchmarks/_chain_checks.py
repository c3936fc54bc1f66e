"""Checks of the MoSeq chain's outputs, run INSIDE the chain venv by bench_moseq_chain.py.

Self-contained (numpy, h5py, yaml, joblib, cv2 and moseq2_viz of the chain venv; not this
project's package).  ``python _chain_checks.py STEP WORKDIR`` prints one JSON object:
``{"ok": bool, "detail": str, ...}``; exit status 0 also when a check fails (the driver reads
``ok``), non-zero only when the check itself crashed.

Work folder layout (made by the driver)::

    WORKDIR/data/rec<i>/{depth.*, ground_truth.npz, proc/}
    WORKDIR/data/aggregate_results/*.h5|yaml
    WORKDIR/data/moseq2-index.yaml
    WORKDIR/data/_pca/{pca.h5, pca_scores.h5, changepoints.h5}
    WORKDIR/data/model/model.p
    WORKDIR/data/viz/{scalars_summary.png, crowd_movies/*.mp4}
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml


def _index(data: Path) -> dict[str, Any]:
    return yaml.safe_load((data / "moseq2-index.yaml").read_text())


def _sessions(data: Path) -> dict[str, dict[str, Any]]:
    """uuid -> {h5, n (frames), name (SessionName), group, dropped, gap_rows}: ``dropped`` is
    the number of frames the camera lost (the ground truth's timestamp gaps), ``gap_rows`` the
    NaN rows moseq2-pca's own gap rule (``insert_nans``, floor of gap / frame period at its
    default 30 fps) makes of the recording's timestamps: a 2-frame gap a little shorter than
    2/30 s gets none."""
    from moseq2_pca.util import insert_nans

    out = {}
    for e in _index(data)["files"]:
        with h5py.File(e["path"][0], "r") as f:
            n = f["frames"].shape[0]
            crop = f["frames"].shape[1:]
        name = e["metadata"]["SessionName"]
        truth = np.load(data / name / "ground_truth.npz")
        gaps = np.round(np.diff(truth["timestamps_ms"]) / (1000 / float(truth["fps"]))) - 1
        _, idx, _ = insert_nans(truth["timestamps_ms"] / 1000.0, np.zeros(n), fps=30)
        out[e["uuid"]] = {"h5": e["path"][0], "n": int(n), "crop": list(crop), "name": name,
                          "group": e["group"], "dropped": int(gaps[gaps > 0].sum()),
                          "gap_rows": int(np.isnan(idx).sum())}
    return out


def check_train_pca(data: Path) -> dict[str, Any]:
    crop = next(iter(_sessions(data).values()))["crop"]
    with h5py.File(data / "_pca" / "pca.h5", "r") as f:
        comps = f["components"][()]
        mean = f["mean"][()]
        ratio = f["explained_variance_ratio"][()]
    k, features = comps.shape
    ev10 = float(ratio[:10].sum())
    ok = (features == crop[0] * crop[1] and mean.shape == (features,)
          and ratio.shape == (k,) and bool(np.isfinite(comps).all())
          and 0.5 < ev10 <= 1.0 + 1e-6)
    return {"ok": ok, "components": [int(k), int(features)], "explained_variance_10": ev10,
            "detail": f"{k} PCs of {crop[0]}x{crop[1]} crops; first 10 explain {ev10:.1%}"}


def check_apply_pca(data: Path) -> dict[str, Any]:
    """Scores per session: one row per frame plus the NaN rows moseq2-pca puts in the gaps of
    our timestamps (as many as the recording's own timestamps give), ``scores_idx`` mapping
    the rows back to our frames."""
    sessions = _sessions(data)
    bad = []
    with h5py.File(data / "_pca" / "pca_scores.h5", "r") as f:
        if set(f["scores"]) != set(sessions):
            return {"ok": False, "detail": "scores are not keyed by the index's uuids"}
        for uid, s in sessions.items():
            sc, idx = f["scores"][uid][()], f["scores_idx"][uid][()]
            real = ~np.isnan(idx)
            finite = float(np.isfinite(sc[real]).all(axis=1).mean())
            if (sc.shape[0] != s["n"] + s["gap_rows"] or idx.shape != (sc.shape[0],)
                    or not np.array_equal(idx[real], np.arange(s["n"])) or finite < 0.9
                    or np.isfinite(sc[~real]).any()):
                bad.append(f"{s['name']}: scores {sc.shape} for {s['n']} frames + "
                           f"{s['gap_rows']} gap rows expected, {int((~real).sum())} made, "
                           f"{finite:.0%} finite rows")
        k = f["scores"][uid].shape[1]
    gaps = {s["name"]: f"{s['gap_rows']} of {s['dropped']}" for s in sessions.values()
            if s["dropped"]}
    return {"ok": not bad, "detail": "; ".join(bad) or
            f"{len(sessions)} sessions x (frames + gap rows, {k}) scores, every frame's row "
            f"finite, NaN rows filling the dropped frames {gaps}"}


def check_changepoints(data: Path) -> dict[str, Any]:
    sessions = _sessions(data)
    durations, bad = [], []
    with h5py.File(data / "_pca" / "changepoints.h5", "r") as f:
        fps = float(f["metadata/fps"][()])
        for uid, s in sessions.items():
            cps = np.sort(f["cps"][uid][()].ravel())
            if cps.size < 2 or cps.min() < 0 or cps.max() > (s["n"] + s["gap_rows"]) / fps:
                bad.append(f"{s['name']}: {cps.size} changepoints")
                continue
            durations.extend(np.diff(cps))
    med = float(np.median(durations)) if durations else float("nan")
    return {"ok": not bad and 0.05 < med < 10, "median_block_s": med,
            "detail": "; ".join(bad) or f"median block {med:.2f} s over "
                      f"{len(durations) + len(sessions)} changepoints"}


def check_learn_model(data: Path) -> dict[str, Any]:
    import joblib

    sessions = _sessions(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = joblib.load(data / "model" / "model.p")
    labels = dict(zip(model["keys"], model["labels"]))
    want = {uid: s["n"] + s["gap_rows"] for uid, s in sessions.items()}  # the scores' rows
    bad = [f"{s['name']}: {np.asarray(labels.get(uid, [])).shape[0]} labels for {want[uid]} "
           "score rows" for uid, s in sessions.items()
           if np.asarray(labels.get(uid, [])).shape[0] != want[uid]]
    groups = model["metadata"].get("groups", {})
    wrong_group = [s["name"] for uid, s in sessions.items() if groups.get(uid) != s["group"]]
    if wrong_group:
        bad.append(f"groups differ from the index for {wrong_group}")
    used = np.unique(np.concatenate([np.asarray(v) for v in labels.values()]))
    used = used[used >= 0]
    iters = model["run_parameters"].get("num_iter")
    return {"ok": not bad and used.size > 1, "states_used": int(used.size),
            "detail": "; ".join(bad) or f"a label per score row of {len(labels)} sessions, "
                      f"{used.size} states used after {iters} iterations, groups from the index"}


def check_scalar_summary(data: Path) -> dict[str, Any]:
    """The PNG exists, and moseq2-viz's own scalar table of our files (with the model's labels
    merged in) is complete and agrees with the synthetic ground truth (centroid, frame count,
    timestamps)."""
    from moseq2_viz.scalars.util import scalars_to_dataframe
    from moseq2_viz.util import parse_index

    png = data / "viz" / "scalars_summary.png"
    if not png.is_file() or png.stat().st_size < 1000:
        return {"ok": False, "detail": f"{png.name} missing or empty"}
    _, sorted_index = parse_index(str(data / "moseq2-index.yaml"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = scalars_to_dataframe(sorted_index, disable_output=True,
                                  model_path=str(data / "model" / "model.p"))
    bad = []
    need = ["velocity_2d_mm", "velocity_3d_mm", "height_ave_mm", "width_mm", "length_mm",
            "centroid_x_mm", "centroid_y_mm", "dist_to_center_px", "labels (usage sort)",
            "timestamps"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        bad.append(f"columns missing: {missing}")
    errs = []
    for uid, s in _sessions(data).items():
        rows = df[df["uuid"] == uid]
        truth = np.load(data / s["name"] / "ground_truth.npz")
        if len(rows) != s["n"] + s["gap_rows"]:
            bad.append(f"{s['name']}: {len(rows)} rows for {s['n']} frames + "
                       f"{s['gap_rows']} gap rows")
            continue
        # the model's gap rows have no frame (and NaN scalars); every frame has its row
        rows = rows[rows["frame index"].notna()].sort_values("frame index")
        if not np.array_equal(rows["frame index"].to_numpy(), np.arange(s["n"])):
            bad.append(f"{s['name']}: frame rows do not cover the {s['n']} frames")
            continue
        for col in need:
            if col in rows and rows[col].isna().mean() > 0.05:
                bad.append(f"{s['name']}: {col} {rows[col].isna().mean():.0%} NaN")
        with h5py.File(s["h5"], "r") as f:  # centroids are in ROI-box pixels (spec 4.16)
            ys, xs = np.nonzero(f["metadata/extraction/roi"][()])
        d = np.hypot(rows["centroid_x_px"].to_numpy() + xs.min() - truth["centroid_x"],
                     rows["centroid_y_px"].to_numpy() + ys.min() - truth["centroid_y"])
        errs.append(float(np.nanmedian(d)))
        if not np.all(np.diff(rows["timestamps"].to_numpy()) > 0):
            bad.append(f"{s['name']}: timestamps not increasing")
    if errs and max(errs) > 3:
        bad.append(f"centroid median error {max(errs):.1f} px")
    return {"ok": not bad, "detail": "; ".join(bad) or
            f"PNG {png.stat().st_size // 1024} KiB; scalar table {len(df)} rows, "
            f"no NaN columns, centroid median error {max(errs):.2f} px vs truth"}


def _blob_iou(crowd: np.ndarray, raw_mask: np.ndarray) -> tuple[float, float]:
    """IoU of a crowd-movie frame's mouse with the raw frame's mouse, centroids aligned;
    and the same with the crowd mouse turned 180 degrees (a wrong heading scores that)."""
    def centred(m: np.ndarray) -> np.ndarray:
        canvas = np.zeros((raw_mask.shape[0] + 2 * m.shape[0], raw_mask.shape[1] + 2 * m.shape[1]),
                          bool)
        canvas[:m.shape[0], :m.shape[1]] = m
        y, x = np.nonzero(canvas)
        ty, tx = np.nonzero(raw_mask)
        shift = (int(round(ty.mean() - y.mean())), int(round(tx.mean() - x.mean())))
        return np.roll(canvas, shift, axis=(0, 1))[:raw_mask.shape[0], :raw_mask.shape[1]]

    def iou(a: np.ndarray) -> float:
        return float((a & raw_mask).sum() / max((a | raw_mask).sum(), 1))

    return iou(centred(crowd)), iou(centred(np.rot90(crowd, 2)))


def check_crowd_movies(data: Path) -> dict[str, Any]:
    """Every movie decodes with frames that show mice; and a crowd matrix that moseq2-viz
    builds from one stretch of our .dat session lays the mouse where and how the raw depth
    frame has it (centroid, angle and flips read from our h5 the way moseq2-viz reads them)."""
    import cv2
    from moseq2_viz.viz import make_crowd_matrix

    movies = sorted((data / "viz" / "crowd_movies").glob("*.mp4"))
    if not movies:
        return {"ok": False, "detail": "no crowd movie written"}
    bad = []
    for mp4 in movies:
        cap = cv2.VideoCapture(str(mp4))
        frames = []
        while True:
            ok, fr = cap.read()
            if not ok:
                break
            frames.append(fr)
        cap.release()
        # jet colour map: the empty background is dark blue; a mouse has red/green pixels
        lit = [float((np.asarray(f)[..., 1:].max(axis=2) > 60).mean()) for f in frames]
        if not frames or max(lit) < 0.005:
            bad.append(f"{mp4.name}: {len(frames)} frames, no mouse visible")
    sessions = _sessions(data)
    uid, s = next((u, s) for u, s in sessions.items()
                  if (data / s["name"] / "depth.dat").is_file())
    truth = np.load(data / s["name"] / "ground_truth.npz")
    h, w = truth["background"].shape
    raw = np.memmap(data / s["name"] / "depth.dat", dtype="<u2", mode="r").reshape(-1, h, w)
    yy, xx = np.mgrid[:h, :w]
    ious, flipped = [], []
    for start in range(60, s["n"] - 60, max(1, (s["n"] - 120) // 5)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cm = make_crowd_matrix([((start, start + 20), uid, s["h5"])], nexamples=1, pad=0,
                                   raw_size=(w, h), crop_size=tuple(s["crop"]), max_dur=None,
                                   min_height=10)
        for i in range(0, 20, 5):
            mouse = (truth["background"] - raw[start + i].astype(np.float32)) > 10
            mouse &= ((yy - truth["centroid_y"][start + i]) ** 2
                      + (xx - truth["centroid_x"][start + i]) ** 2) < 45 ** 2
            a, b = _blob_iou(cm[i] > 10, mouse)
            ious.append(a)
            flipped.append(b)
    iou, iou180 = float(np.median(ious)), float(np.median(flipped))
    if iou < 0.8 or iou < iou180 + 0.1:
        bad.append(f"crowd mouse vs raw mouse IoU {iou:.2f} (turned 180: {iou180:.2f})")
    return {"ok": not bad, "iou": iou, "iou_turned": iou180, "detail": "; ".join(bad) or
            f"{len(movies)} movies decode with mice in them; placed mouse vs raw frame "
            f"IoU {iou:.2f} (turned 180 deg: {iou180:.2f}, {len(ious)} frames of {s['name']})"}


CHECKS = {
    "train-pca": check_train_pca,
    "apply-pca": check_apply_pca,
    "compute-changepoints": check_changepoints,
    "learn-model": check_learn_model,
    "plot-scalar-summary": check_scalar_summary,
    "make-crowd-movies": check_crowd_movies,
}

if __name__ == "__main__":
    step, work = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(CHECKS[step](work / "data")))
