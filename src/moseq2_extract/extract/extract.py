"""``moseq2_extract.extract.extract.extract_chunk``: one chunk, start to finish, at the
original's module path (spec 6.5).

It runs this package's own per-block kernel (:class:`~.chunk.BlockKernel`) and sequence
assembler (axis unwrapping, heading, scalars, Hampel filter), i.e. exactly what the
pipeline does to the same frames, and returns the original's dict.  moseq2-app's arena
widget calls it as ``extract_chunk(raw, roi=mask, bground=bg, **session_config,
**get_strels(session_config))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..camera import PRESETS, CameraModel, camera_for_frame_size
from ..config import make_config
from ..heading.classifier import load_flip_model
from ..roi.roi import make_strel, roi_bbox
from .chunk import BlockKernel, ChunkParams

__all__ = ["extract_chunk"]

STREL_ELLIPSE_9 = make_strel("ellipse", (9, 9))
STREL_RECT_5 = make_strel("rectangle", (5, 5))


def _camera(name: Any, width: int, height: int) -> CameraModel:
    if name in PRESETS:
        return PRESETS[name].with_resolution(width, height)
    return camera_for_frame_size(width, height)


def extract_chunk(chunk: np.ndarray, use_tracking_model: bool = False,
                  spatial_filter_size: Sequence[int] = (3,),
                  temporal_filter_size: Sequence[int] | None = None,
                  tail_filter_iters: int = 1, iters_min: int = 0,
                  strel_tail: np.ndarray = STREL_ELLIPSE_9, strel_min: np.ndarray = STREL_RECT_5,
                  min_height: float = 10, max_height: float = 100, mask_threshold: float = -20,
                  use_cc: bool = False, bground: np.ndarray | None = None,
                  roi: np.ndarray | None = None, rho_mean: float = 0, rho_cov: float = 0,
                  tracking_ll_threshold: float = -100, tracking_model_segment: bool = True,
                  tracking_init_mean: np.ndarray | None = None,
                  tracking_init_cov: np.ndarray | None = None,
                  tracking_init_strel: np.ndarray = STREL_ELLIPSE_9,
                  flip_classifier: str | None = None, flip_classifier_smoothing: int = 51,
                  frame_dtype: str = "uint8", progress_bar: bool = True,
                  crop_size: Sequence[int] = (80, 80), true_depth: float = 673.1,
                  centroid_hampel_span: int = 5, centroid_hampel_sig: float = 3,
                  angle_hampel_span: int = 5, angle_hampel_sig: float = 3,
                  model_smoothing_clips: Sequence[float] = (-300, -150),
                  tracking_model_init: str = "raw", compute_raw_scalars: bool = False,
                  **kwargs: Any) -> dict[str, Any]:
    """Extract the mouse from a chunk of raw depth frames.

    Parameters
    ----------
    chunk : ndarray, (n, H, W)
        Raw depth (mm, uint16; 0 = invalid), full frames.  Without ``bground`` it is taken
        as heights above the floor already.
    bground : ndarray, (H, W), optional
        Background depth (mm).
    roi : ndarray, (H, W), optional
        Arena mask (default: the whole frame); work is restricted to its bounding box.
    other parameters
        As the config keys of the same name; ``strel_tail`` / ``strel_min`` are the tail
        opening's and the cable erosion's structuring elements (``get_strels``).  The
        cable erosion runs ``max(iters_min, cable_filter_iters)`` times (the original never
        ran it from a config, spec 7.1-2).  ``camera_type`` (keyword) picks the
        intrinsics of the mm scalars.  A whole config may be passed as keywords; keys
        this function does not use are ignored.

    Returns
    -------
    dict
        ``chunk`` (n, h, w) heights over the ROI box (``frame_dtype``, unfiltered,
        thresholded); ``depth_frames`` (n, c, c) egocentric crops; ``mask_frames``
        (n, c, c) bool mouse masks; ``scalars`` (17 names -> (n,) float32, centroids in
        ROI-box pixels); ``flips`` (n,) bool, the crops turned by 180 degrees by the
        heading decision (a flip classifier's when ``flip_classifier`` is set, else this
        package's training-free heading model); ``parameters`` None (the EM tracker's
        state with ``use_tracking_model``: ``mean`` (n, 3) and ``cov`` (n, 3, 3) per frame; the
        masks are then the tracker's clipped log-likelihood crops, float32).

    Raises
    ------
    ValueError
        An invalid ``tracking_init_mean`` / ``tracking_init_cov``.
    """
    from ..pipeline.sequence import SequenceAssembler
    from .em import EMState
    from .tracked import TrackerParams, extract_tracked

    raw = np.asarray(chunk)
    if raw.ndim == 2:
        raw = raw[None]
    n, height, width = raw.shape
    mask = np.ones((height, width), bool) if roi is None else np.asarray(roi) > 0
    y0, y1, x0, x1 = roi_bbox(mask)
    if bground is None:
        # heights given: depth = M - height over a flat background at M gives them back
        top = float(np.iinfo(np.uint16).max)
        background = np.full((y1 - y0, x1 - x0), top, np.float32)
        box_raw = (top - np.clip(raw[:, y0:y1, x0:x1], 0, top - 1)).astype(np.uint16)
    else:
        background = np.asarray(bground, dtype=np.float32)[y0:y1, x0:x1]
        box_raw = np.ascontiguousarray(raw[:, y0:y1, x0:x1], dtype=np.uint16)
    cable_iters = max(int(iters_min or 0), int(kwargs.get("cable_filter_iters") or 0))
    params = ChunkParams(
        min_height=float(min_height), max_height=float(max_height), frame_dtype=frame_dtype,
        spatial_filter_size=tuple(int(k) for k in (spatial_filter_size or (0,))),
        temporal_filter_size=tuple(int(k) for k in (temporal_filter_size or (0,))),
        strel_tail=np.asarray(strel_tail, np.uint8), tail_filter_iters=int(tail_filter_iters),
        strel_cable=np.asarray(strel_min, np.uint8), cable_filter_iters=cable_iters,
        crop_size=int(crop_size[0]), compute_raw_scalars=bool(compute_raw_scalars),
        tracker=TrackerParams(
            init=tracking_model_init, segment=bool(tracking_model_segment),
            ll_threshold=float(tracking_ll_threshold), mask_threshold=float(mask_threshold),
            ll_clip=float(kwargs.get("tracking_model_ll_clip", -100.0)),
            rho_mean=float(rho_mean), rho_cov=float(rho_cov),
            smoothing_clips=(float(model_smoothing_clips[0]),
                             float(model_smoothing_clips[1]))) if use_tracking_model else None)
    kernel = BlockKernel(background, mask[y0:y1, x0:x1], params)
    em_parameters = None
    if use_tracking_model:
        state = None
        if tracking_init_mean is not None and tracking_init_cov is not None:
            mean = np.asarray(tracking_init_mean, float) - (x0, y0, 0)  # to the ROI box
            state = EMState(mean, tracking_init_cov)
        fits: list = []
        block = extract_tracked(kernel, box_raw, lead=0, count=n, state=state, fits=fits)
        em_parameters = {"mean": np.array([f[0] for f in fits]) + (x0, y0, 0),
                         "cov": np.array([f[1] for f in fits])}
    else:
        block = kernel.extract(box_raw)
    flip_model = None
    if flip_classifier:
        flip_model = load_flip_model(make_config({
            "flip_classifier": str(flip_classifier), "crop_size": tuple(crop_size),
            "flip_classifier_smoothing": int(flip_classifier_smoothing)}))
    assembler = SequenceAssembler(
        camera=_camera(kwargs.get("camera_type"), width, height), true_depth=float(true_depth),
        box_origin=(x0, y0), flip_model=flip_model,
        centroid_hampel=(int(centroid_hampel_span or 0), float(centroid_hampel_sig)),
        angle_hampel=(int(angle_hampel_span or 0), float(angle_hampel_sig)))
    assembler.add(np.arange(n), block.measures, block.box)
    results = assembler.pop_ready(final=True)
    return {
        "chunk": np.concatenate([np.asarray(r.box) for r in results]),
        "depth_frames": np.concatenate([r.frames for r in results]),
        "mask_frames": np.concatenate([r.masks for r in results]),
        "scalars": {k: np.concatenate([r.scalars[k] for r in results])
                    for k in results[0].scalars},
        "flips": np.concatenate([np.asarray(r.flips, bool) for r in results]),
        "parameters": em_parameters,
    }
