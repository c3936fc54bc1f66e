"""``moseq2_extract.extract.proc``: the original's stage-wise functions (spec 6.5).

Thin adapters over this package's core (``roi.*``, ``extract.frames``, ``extract.features``,
``extract.crop``, ``extract.scalars``, ``extract.hampel``, ``heading.classifier``) with the
original's names, parameters and return shapes.  Where the original's behaviour is a known
bug (spec 7.1) the fixed behaviour is kept; ``docs/compatibility.md`` ("Lower-level API")
lists each difference.  moseq2-app calls ``get_bground_im_file``, ``get_roi``,
``apply_roi``, ``threshold_chunk``, ``clean_frames`` and ``get_flips``.

The EM tracker's smoother ``model_smoother`` belongs to the tracking model (spec 4.13) and
is not provided here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..camera import KINECT, PRESETS
from ..io.image import read_image, write_image
from ..io.video import open_depth_video
from ..paths import resolve_output_dir
from ..roi.background import compute_background
from ..roi.roi import find_rois, make_strel, roi_bbox
from .crop import crop_rotate, crop_transform
from .em_post import likelihood_weights, smooth_by_likelihood
from .features import largest_blob, moment_features
from .frames import filter_frames, temporal_median
from .hampel import hampel
from .scalars import compute_scalars as _core_scalars

__all__ = [
    "apply_roi", "clean_frames", "compute_scalars", "crop_and_rotate_frames",
    "feature_hampel_filter", "get_bbox", "get_bground_im_file", "get_flips",
    "get_frame_features", "get_largest_cc", "get_roi", "im_moment_features",
    "threshold_chunk",
]

STREL_RECT_15 = make_strel("rectangle", (15, 15))
STREL_ELLIPSE_7 = make_strel("ellipse", (7, 7))
STREL_RECT_5 = make_strel("rectangle", (5, 5))
_NO_MASK = np.array([])


# ------------------------------------------------------------------------------------------
# background and arena
# ------------------------------------------------------------------------------------------
def get_bground_im_file(frames_file: str | os.PathLike, frame_stride: int = 500,
                        med_scale: int = 5, output_dir: str | os.PathLike | None = None,
                        **kwargs: Any) -> np.ndarray:
    """Background of a recording, cached as ``bground.tiff`` in its output folder.

    The file is ``<output_dir>/bground.tiff`` (default: the session's ``proc`` folder).
    When it exists and ``recompute_bg`` (a keyword) is not set, it is loaded; otherwise the
    background is computed from frames sampled every ``frame_stride`` frames (at least 25
    frames over the whole recording), each median-blurred with ``med_scale``, as the
    per-pixel median of the floor samples (invalid zeros excluded), and written there.

    Returns
    -------
    ndarray, (H, W) float64
        Depth (mm), the values ``bground.tiff`` holds (quantised by its scale factor).
    """
    out = resolve_output_dir(frames_file, output_dir)
    bg_file = Path(out) / "bground.tiff"
    if bg_file.exists() and not kwargs.get("recompute_bg", False):
        return read_image(bg_file)
    with open_depth_video(frames_file, mapping=kwargs.get("mapping", "DEPTH"),
                          threads=int(kwargs.get("threads", 0) or 0)) as reader:
        background = compute_background(reader, frame_stride=int(frame_stride),
                                        med_scale=int(med_scale))
    write_image(bg_file, background)
    return read_image(bg_file)


def get_roi(depth_image: np.ndarray, strel_dilate: np.ndarray = STREL_RECT_15,
            dilate_iterations: int = 0, erode_iterations: int = 0,
            strel_erode: np.ndarray | None = None, noise_tolerance: float = 30,
            bg_roi_weights: Sequence[float] = (1, 0.1, 1), overlap_roi: np.ndarray | None = None,
            bg_roi_gradient_filter: bool = False, bg_roi_gradient_kernel: int = 7,
            bg_roi_gradient_threshold: float = 3000, bg_roi_fill_holes: bool = True,
            get_all_data: bool = False, **kwargs: Any) -> tuple:
    """Candidate arena ROIs of a background image, best first.

    The floor plane is fitted (seeded RANSAC, ``seed`` keyword, default 0) to the pixels
    within ``bg_roi_depth_range`` (keyword, default (650, 750) mm; ``iters`` and
    ``in_ratio`` keywords too); its connected regions are ranked by area, extent and
    distance to the image centre with ``bg_roi_weights`` and cleaned up (dilation, erosion,
    hole filling).  ``overlap_roi`` drops the ROI that overlaps it most.

    Returns
    -------
    (rois, plane)
        ``rois``: list of (H, W) bool masks; ``plane``: (4,) (a, b, c, d).
        With ``get_all_data``: ``(rois, plane, bboxes, label_im, ranks, shape_index)`` --
        each ROI's :func:`get_bbox`, the (H, W) int32 labels of the floor regions, the
        ranking scores (lower is better) and the ROIs' order (0, 1, ...).

    Raises
    ------
    RoiError (a ValueError)
        When no floor plane or region is found.
    """
    depth_range = tuple(float(v) for v in kwargs.get("bg_roi_depth_range", (650, 750)))
    found = find_rois(
        np.asarray(depth_image), depth_range=depth_range,  # type: ignore[arg-type]
        noise_tolerance=float(noise_tolerance),
        weights=tuple(float(w) for w in bg_roi_weights),  # type: ignore[arg-type]
        strel_dilate=strel_dilate, dilate_iterations=int(dilate_iterations),
        strel_erode=strel_erode, erode_iterations=int(erode_iterations),
        fill_holes=bool(bg_roi_fill_holes), gradient_filter=bool(bg_roi_gradient_filter),
        gradient_kernel=int(bg_roi_gradient_kernel),
        gradient_threshold=float(bg_roi_gradient_threshold), n_rois=1 << 16,
        iters=int(kwargs.get("iters", 1000)), in_ratio=float(kwargs.get("in_ratio", 0.1)),
        rng=kwargs.get("seed", 0))
    rois = list(found.rois)
    scores = np.asarray(found.scores)
    if overlap_roi is not None and rois:
        overlap = [int(np.count_nonzero(r & (np.asarray(overlap_roi) > 0))) for r in rois]
        drop = int(np.argmax(overlap))
        rois.pop(drop)
        scores = np.delete(scores, drop)
    plane = found.plane.plane
    if not get_all_data:
        return rois, plane
    floor = (found.plane.distance < noise_tolerance).astype(np.uint8)
    _, label_im = cv2.connectedComponents(floor, connectivity=8)
    bboxes = [get_bbox(r) for r in rois]
    return rois, plane, bboxes, label_im, scores, np.arange(len(rois))


def get_bbox(roi: np.ndarray) -> np.ndarray | None:
    """``[[ymin, xmin], [ymax, xmax]]`` (inclusive maxima) of a mask, or None if empty."""
    mask = np.asarray(roi) > 0
    if not mask.any():
        return None
    y0, y1, x0, x1 = roi_bbox(mask)
    return np.array([[y0, x0], [y1 - 1, x1 - 1]])


def apply_roi(frames: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """Zero everything outside ``roi`` and crop to its bounding box.

    The whole box is kept, last row and column included (the original dropped them, spec
    7.1-9).

    Parameters
    ----------
    frames : ndarray, (n, H, W) or (H, W)
    roi : ndarray, (H, W)

    Returns
    -------
    ndarray, (n, h, w) (or (h, w)), the dtype of ``frames``.
    """
    frames = np.asarray(frames)
    mask = np.asarray(roi) > 0
    y0, y1, x0, x1 = roi_bbox(mask)
    box = mask[y0:y1, x0:x1]
    cropped = frames[..., y0:y1, x0:x1]
    return cropped * box.astype(cropped.dtype)


def threshold_chunk(chunk: np.ndarray, min_height: float, max_height: float) -> np.ndarray:
    """Set heights below ``min_height`` or above ``max_height`` to 0, in place (bounds are
    kept); returns ``chunk``."""
    chunk[(chunk < min_height) | (chunk > max_height)] = 0
    return chunk


# ------------------------------------------------------------------------------------------
# filtering and features
# ------------------------------------------------------------------------------------------
def clean_frames(frames: np.ndarray, prefilter_space: Sequence[int] = (3,),
                 prefilter_time: Sequence[int] | None = None,
                 strel_tail: np.ndarray = STREL_ELLIPSE_7, iters_tail: int | None = None,
                 frame_dtype: str = "uint8", strel_min: np.ndarray = STREL_RECT_5,
                 iters_min: int | None = None, progress_bar: bool = False) -> np.ndarray:
    """Per-frame clean-up: cable erosion (``strel_min``, ``iters_min`` times), spatial
    median(s) ``prefilter_space``, tail opening (``strel_tail``, ``iters_tail`` times), then
    the temporal median(s) ``prefilter_time`` along the frames.

    Iteration counts are honoured (the original always did exactly one opening, spec
    7.1-3); the temporal median repeats the edge frames instead of padding with zeros.

    Parameters
    ----------
    frames : ndarray, (n, h, w) or (h, w)
        Heights (mm); cast to ``frame_dtype`` first.

    Returns
    -------
    ndarray, same shape, ``frame_dtype``.
    """
    arr = np.asarray(frames).astype(frame_dtype)
    single = arr.ndim == 2
    stack = arr[None] if single else arr
    out = filter_frames(np.ascontiguousarray(stack),
                        spatial_filter_size=tuple(int(k) for k in (prefilter_space or (0,))),
                        strel_tail=strel_tail, tail_filter_iters=int(iters_tail or 0),
                        strel_cable=strel_min, cable_filter_iters=int(iters_min or 0))
    if prefilter_time is not None:
        out = temporal_median(out, tuple(int(k) for k in prefilter_time))
    return out[0] if single else out


def _blob_of(mask: np.ndarray) -> tuple[Any, np.ndarray]:
    """Features and full-size mask of the largest blob of a 0/1 uint8 image."""
    blob, window = largest_blob(np.ascontiguousarray(mask, dtype=np.uint8))
    full = np.zeros(mask.shape, np.uint8)
    if window is not None:
        bx, by, bw, bh = blob.bbox
        full[by:by + bh, bx:bx + bw] = window
    return blob, full


def get_frame_features(frames: np.ndarray, frame_threshold: float = 10,
                       mask: np.ndarray = _NO_MASK, mask_threshold: float = -30,
                       use_cc: bool = False, progress_bar: bool = False
                       ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Centroid, orientation and axis lengths of the mouse in each frame.

    The mouse is the largest blob of ``frames > frame_threshold`` (AND ``mask >
    mask_threshold`` when a likelihood ``mask`` is given); its features are the area
    moments of its pixels.  The returned mask holds that blob only (the original kept every
    pixel above the threshold, spec 7.1-4), so ``use_cc`` changes nothing.

    Returns
    -------
    (features, mask)
        ``features``: ``centroid`` (n, 2) (x, y px), ``orientation`` (n,) rad,
        ``axis_length`` (n, 2) (major, minor px), NaN without a mouse; ``mask``:
        (n, h, w) uint8 0/1.
    """
    frames = np.asarray(frames)
    n = len(frames)
    centroid = np.full((n, 2), np.nan)
    orientation = np.full(n, np.nan)
    axis_length = np.full((n, 2), np.nan)
    masks = np.zeros(frames.shape, np.uint8)
    likelihood = np.asarray(mask)
    for i in range(n):
        above = frames[i] > frame_threshold
        if likelihood.size:
            above &= likelihood[i] > mask_threshold
        blob, masks[i] = _blob_of(above)
        if np.isfinite(blob.x):
            centroid[i] = (blob.x, blob.y)
            orientation[i] = blob.orientation
            axis_length[i] = (blob.major, blob.minor)
    return {"centroid": centroid, "orientation": orientation,
            "axis_length": axis_length}, masks


def get_largest_cc(frames: np.ndarray, progress_bar: bool = False) -> np.ndarray:
    """The largest blob of the non-zero pixels of each frame (all False for an empty
    frame, where the original raised).

    Returns
    -------
    ndarray, (n, h, w) bool
    """
    frames = np.asarray(frames)
    return np.stack([_blob_of(f > 0)[1] > 0 for f in frames]) if len(frames) else \
        np.zeros(frames.shape, bool)


def im_moment_features(IM: np.ndarray) -> dict[str, Any]:
    """Centroid (x, y), orientation (rad) and axis lengths (major, minor) from the image
    moments of ``IM`` (a contour's points or an image, as ``cv2.moments`` takes); NaNs when
    its area is 0."""
    x, y, theta, major, minor = moment_features(cv2.moments(np.asarray(IM)))
    return {"centroid": np.array([x, y]), "orientation": theta,
            "axis_length": np.array([major, minor])}


def crop_and_rotate_frames(frames: np.ndarray, features: Mapping[str, np.ndarray],
                           crop_size: Sequence[int] = (80, 80), progress_bar: bool = False
                           ) -> np.ndarray:
    """Egocentric crops: each frame warped so the centroid sits at the crop centre and the
    body axis (``orientation``) points east, in one sub-pixel affine warp (the original
    truncated the centroid to whole pixels, spec 7.1-10).  Frames without a centroid stay
    zero.

    Returns
    -------
    ndarray, (n, c, c), the dtype of ``frames`` (bool frames give bool crops).
    """
    frames = np.asarray(frames)
    c = int(crop_size[0])
    is_bool = frames.dtype == bool
    src = frames.view(np.uint8) if is_bool else frames
    out = np.zeros((len(frames), c, c), src.dtype)
    centroid = np.asarray(features["centroid"], dtype=np.float64)
    orientation = np.asarray(features["orientation"], dtype=np.float64)
    for i in range(len(frames)):
        x, y = centroid[i]
        if np.isfinite(x) and np.isfinite(y) and np.isfinite(orientation[i]):
            m = crop_transform(x, y, orientation[i], c)
            out[i] = crop_rotate(np.ascontiguousarray(src[i]), m, c, nearest=is_bool)
    return out.astype(bool) if is_bool else out


def compute_scalars(frames: np.ndarray, track_features: Mapping[str, np.ndarray],
                    min_height: float = 10, max_height: float = 100,
                    true_depth: float = 673.1, *, box_origin: tuple[int, int] = (0, 0),
                    camera_type: str = "kinect") -> dict[str, np.ndarray]:
    """The 17 scalars from egocentric crops and their features.

    ``area_px`` and ``height_ave_mm`` count the crop pixels with ``min_height < v <
    max_height``.  Millimetres use ``camera_type``'s pinhole intrinsics at ``true_depth``
    with the centroid taken in full-frame pixels (``box_origin`` = the ROI box's top-left
    corner; the original used Kinect constants around (256, 212) whatever the box, spec
    7.1-7); ``length_mm`` / ``width_mm`` are scaled along the body axis.

    Returns
    -------
    dict of str to ndarray, (n,) float32
    """
    frames = np.asarray(frames)
    centroid = np.asarray(track_features["centroid"], dtype=np.float64).reshape(-1, 2)
    axes = np.asarray(track_features["axis_length"], dtype=np.float64).reshape(-1, 2)
    inside = (frames > min_height) & (frames < max_height)
    area = inside.reshape(len(frames), -1).sum(axis=1).astype(np.float64)
    total = np.where(inside, frames, 0).reshape(len(frames), -1).sum(axis=1, dtype=np.float64)
    height = np.divide(total, area, out=np.zeros_like(total), where=area > 0)
    camera = PRESETS.get(camera_type, KINECT)
    scalars, _ = _core_scalars(
        x=centroid[:, 0], y=centroid[:, 1],
        angle=np.asarray(track_features["orientation"], dtype=np.float64),
        major=np.nanmax(axes, axis=1) if len(axes) else axes[:, 0],
        minor=np.nanmin(axes, axis=1) if len(axes) else axes[:, 0],
        area=area, height=height, box_origin=box_origin, camera=camera,
        true_depth=float(true_depth))
    return scalars


def model_smoother(features: dict, ll: np.ndarray | None = None,
                   clips: Sequence[float] = (-300, -125)) -> dict:
    """Smooth the features by the EM tracker's confidence (spec 4.13), in place.

    Parameters
    ----------
    features : dict of str to ndarray
        Per-frame features (each (n,) or (n, k)); NaNs are filled from the nearest frame.
    ll : ndarray, (n, h, w), optional
        The tracker's log-likelihood images; None leaves ``features`` as they are.
    clips : (c0, c1)
        Mean log-likelihoods mapped to weights 0 and 1; off unless ``c0 < c1``.

    Returns
    -------
    dict
        ``features`` itself (the original returns the same object).
    """
    if ll is None:
        return features
    mean_ll = np.asarray(ll, dtype=np.float64).reshape(len(ll), -1).mean(axis=1)
    weights = likelihood_weights(mean_ll, (float(clips[0]), float(clips[1])))
    if weights is None:
        return features
    for key, values in features.items():
        features[key] = smooth_by_likelihood(values, weights, first=2)
    return features


def feature_hampel_filter(features: Mapping[str, np.ndarray],
                          centroid_hampel_span: int | None = None,
                          centroid_hampel_sig: float = 3,
                          angle_hampel_span: int | None = None,
                          angle_hampel_sig: float = 3) -> dict[str, np.ndarray]:
    """Hampel-filter the centroid (x and y) and the orientation (a new dict).

    A sample further than ``sig`` robust standard deviations (1.4826 x MAD) from its
    window's median is replaced by the median (the original filtered x only, compared with
    ``median + sig * MAD`` and crashed on angle-only filtering, spec 7.1-5).  Spans must be
    odd; None or 0 is off.
    """
    out = {k: np.array(v, copy=True) for k, v in features.items()}
    if centroid_hampel_span:
        for j in range(2):
            out["centroid"][:, j] = hampel(out["centroid"][:, j],
                                           span=int(centroid_hampel_span),
                                           sig=float(centroid_hampel_sig))
    if angle_hampel_span:
        out["orientation"] = hampel(out["orientation"], span=int(angle_hampel_span),
                                    sig=float(angle_hampel_sig))
    return out


# ------------------------------------------------------------------------------------------
# flips
# ------------------------------------------------------------------------------------------
def get_flips(frames: np.ndarray, flip_file: str | os.PathLike | None = None,
              smoothing: int | None = None) -> np.ndarray:
    """Which egocentric crops face west (head on the left), by a flip classifier.

    Parameters
    ----------
    frames : ndarray, (n, c, c)
        Crops (flattened row-major, float32, as the classifier input).
    flip_file : path-like
        ``.npz`` forest, or a scikit-learn pickle (``joblib``; the ``flip`` extra).
    smoothing : int, optional
        Median window (frames, odd) over each class probability; windows are truncated at
        the ends of ``frames`` (the original padded with zeros).

    Returns
    -------
    ndarray, (n,) bool
        True where class ``1`` (flipped) is the more likely.

    Raises
    ------
    FlipClassifierError (a ValueError)
        Without ``flip_file``, or with a file that cannot be used.
    """
    from ..errors import FlipClassifierError
    from ..heading.classifier import load_flip_classifier
    from ..pipeline.sequence import nan_median_windows

    if not flip_file:
        raise FlipClassifierError("get_flips needs a flip classifier file (flip_file=)")
    clf = load_flip_classifier(Path(flip_file))
    frames = np.asarray(frames)
    n = len(frames)
    if n == 0:
        return np.zeros(0, bool)
    proba = np.asarray(clf.predict_proba(frames.reshape(n, -1).astype(np.float32)), float)
    if smoothing and int(smoothing) > 1:
        half = int(smoothing) // 2
        proba = np.column_stack([nan_median_windows(proba[:, j], half, 0, n)
                                 for j in range(proba.shape[1])])
    classes = np.asarray(clf.classes_)
    flipped = int(np.flatnonzero(classes == 1)[0]) if np.any(classes == 1) else 1
    return np.argmax(proba, axis=1) == flipped
