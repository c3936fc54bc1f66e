"""Background, floor and ROI of one session, with the proc/ files that record them.

Used by ``find-roi`` and as the first step of ``extract``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..camera import CameraModel
from ..errors import RoiError
from ..io.image import read_image, stored_values, write_image
from ..paths import atomic_path
from .background import compute_background, plane_background
from .plane import auto_depth_range
from .roi import find_rois, make_strel, roi_bbox, sort_rois_by_position, true_depth_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionRoi:
    """Everything the extraction needs to know about the arena.

    Attributes
    ----------
    roi : ndarray, (H, W) bool
        Arena mask (full frame).
    background : ndarray, (H, W) float32
        Background depth (mm), the floor plane if ``use_plane_bground``.
    first_frame : ndarray, (H, W) uint16
        Raw frame 0.
    true_depth : float
        Floor depth (mm) used for px -> mm.
    depth_range : (lo, hi)
        Floor depth window actually used (mm).
    plane : ndarray, (4,)
        Fitted floor plane (a, b, c, d).
    bbox : (y0, y1, x0, x1)
        ROI bounding box, end-exclusive.
    files : list of Path
        The proc/ files written (or, with ``defer_pictures``, to be written).
    write_pictures : callable or None
        With ``defer_pictures``: writes the proc/ files (the caller runs it, e.g. on
        another thread); None once they are written.
    """

    roi: np.ndarray
    background: np.ndarray
    first_frame: np.ndarray
    true_depth: float
    depth_range: tuple[float, float]
    plane: np.ndarray
    bbox: tuple[int, int, int, int]
    files: list[Path]
    write_pictures: Callable[[], None] | None = None


def find_session_roi(
    reader, config, output_dir: Path, *, camera: CameraModel, nframes: int | None = None,
    defer_pictures: bool = False, threads: int = 1,
) -> SessionRoi:
    """Compute (or load) the background, find the floor and the ROI, write proc/ images.

    Parameters
    ----------
    reader : DepthReader
    config : Config
    output_dir : Path
        Where ``bground.tiff``, ``first_frame.tiff``, ``roi_XX.tiff`` and
        ``roi_overview.png`` go.
    camera : CameraModel
        Supplies the ROI ranking weights when ``bg_roi_weights`` is left at its default.
    nframes : int, optional
        Usable frame count.
    defer_pictures : bool
        Leave the proc/ files (``bground.tiff`` when computed here, ``first_frame.tiff``,
        ``roi_XX.tiff``, the overview picture) to the caller (``SessionRoi.write_pictures``).
        The returned background already holds the values ``bground.tiff`` stores, so
        a rerun that reads the file back extracts the same.
    threads : int
        Threads for the background's median and the floor plane's fit (the same results
        with any number; the pipeline gives the session's worker count, idle until then).

    Raises
    ------
    RoiError
        With the input file named, when no floor or ROI can be found.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    path = reader.info.path
    bg_file = output_dir / "bground.tiff"
    files = []
    loaded = bg_file.exists() and not config.recompute_bg
    if loaded:
        background = read_image(bg_file).astype(np.float32)
        logger.info("using the existing background %s", bg_file)
    else:
        background = _stored(compute_background(
            reader, frame_stride=config.frame_stride, med_scale=config.med_scale,
            nframes=nframes, threads=threads))
    if config.manual_set_depth_range:
        depth_range = config.bg_roi_depth_range
    else:
        depth_range = auto_depth_range(background)
    weights = tuple(config.bg_roi_weights)
    if weights == (1.0, 0.1, 1.0):
        weights = camera.bg_roi_weights
    index = config.bg_roi_index
    n_rois = max(index + 1, config.bg_sort_roi_by_position_max_rois
                 if config.bg_sort_roi_by_position else 0)
    try:
        found = find_rois(
            background, depth_range=depth_range, noise_tolerance=config.noise_tolerance,
            weights=weights, strel_dilate=make_strel(config.bg_roi_shape, config.bg_roi_dilate),
            dilate_iterations=config.dilate_iterations,
            strel_erode=make_strel(config.bg_roi_shape, config.bg_roi_erode),
            erode_iterations=config.erode_iterations, fill_holes=config.bg_roi_fill_holes,
            gradient_filter=config.bg_roi_gradient_filter,
            gradient_kernel=config.bg_roi_gradient_kernel,
            gradient_threshold=config.bg_roi_gradient_threshold, n_rois=n_rois,
            iters=config.iters, in_ratio=config.in_ratio, rng=config.seed, threads=threads)
    except RoiError as err:
        raise RoiError(f"{path}: {err} (try --bg-roi-depth-range with "
                       "--manual-set-depth-range)") from None
    rois = found.rois
    if config.bg_sort_roi_by_position:
        rois = sort_rois_by_position(rois, max_rois=config.bg_sort_roi_by_position_max_rois)
    if index >= len(rois):
        raise RoiError(f"{path}: bg_roi_index {index} requested but only {len(rois)} ROI(s) "
                       "were found")
    roi = rois[index]
    if config.use_plane_bground:
        background = _stored(plane_background(found.plane.plane, background.shape))
    files.append(bg_file)
    if config.detected_true_depth == "auto":
        true_depth = true_depth_of(background, roi)
    else:
        true_depth = float(config.detected_true_depth)
    first_frame = np.asarray(reader.read(0, 1)[0])
    ff_file = output_dir / "first_frame.tiff"
    roi_file = output_dir / f"roi_{index:02d}.tiff"
    png = output_dir / "roi_overview.png"

    def write_pictures() -> None:
        if not loaded or config.use_plane_bground:  # a background computed here
            write_image(bg_file, background)
        write_image(ff_file, first_frame[None], scale_factor=[int(v) for v in depth_range])
        write_image(roi_file, roi.astype(np.uint8), scale=True, scale_factor=65535)
        write_overview_png(png, background, roi, depth_range=depth_range,
                           true_depth=true_depth)

    if not defer_pictures:
        write_pictures()
    files += [ff_file, roi_file, png]
    return SessionRoi(roi, background, first_frame, true_depth, depth_range, found.plane.plane,
                      roi_bbox(roi), files, write_pictures if defer_pictures else None)


def _stored(background: np.ndarray) -> np.ndarray:
    """The values a later run will read back from ``bground.tiff`` once ``background`` is
    written there (computed, not read back: the file is written with the pictures).

    ``bground.tiff`` stores quantised values (spec 5.3); using them from the start makes a
    run that computes the background and a rerun that loads it give identical results.
    """
    return stored_values(background).astype(np.float32)


def write_overview_png(
    path: Path, background: np.ndarray, roi: np.ndarray, *, depth_range: tuple[float, float],
    true_depth: float
) -> Path:
    """Write a picture of the background with the ROI outlined (for a person to check).

    Parameters
    ----------
    background : ndarray, (H, W), mm
    roi : ndarray, (H, W) bool
    """
    valid = background > 0
    lo, hi = 0.0, 1.0
    if valid.any():  # 1st and 99th percentiles (nearest rank), for the grey scale
        values = background[valid]
        ranks = (int(0.01 * (values.size - 1)), int(0.99 * (values.size - 1)))
        lo, hi = (float(v) for v in np.partition(values, ranks)[list(ranks)])
    scaled = np.clip((background - lo) / max(hi - lo, 1e-6), 0, 1)
    grey = (255 * (1 - scaled)).astype(np.uint8)
    grey[~valid] = 0
    img = cv2.applyColorMap(grey, cv2.COLORMAP_BONE)
    contours, _ = cv2.findContours(roi.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(img, contours, -1, (0, 0, 255), 2)
    img = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    text = (f"floor {true_depth:.0f} mm  range {depth_range[0]:.0f}-{depth_range[1]:.0f} mm  "
            f"ROI {int(roi.sum())} px")
    cv2.putText(img, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                cv2.LINE_AA)
    with atomic_path(path, keep_suffix=True) as tmp:
        if not cv2.imwrite(str(tmp), img):
            raise OSError(f"{path}: could not write the overview image")
    return path
