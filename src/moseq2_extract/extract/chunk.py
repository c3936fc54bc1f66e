"""Composition of the per-frame work on one chunk (no IO, no state across chunks).

``prepare_heights`` and ``measure_frames`` are pure functions of a block of frames, so the
pipeline can run blocks on several threads (OpenCV and the numpy kernels used release the
GIL).  Everything that links frames in time lives in :mod:`.sequence`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..roi.roi import make_strel
from .crop import crop_rotate, crop_transform
from .features import largest_blob
from .frames import filter_frames, subtract_background


@dataclass(frozen=True)
class ChunkParams:
    """The knobs of per-frame extraction (derived from the config once per session)."""

    min_height: float = 10
    max_height: float = 120
    frame_dtype: str = "uint8"
    spatial_filter_size: tuple[int, ...] = (3,)
    temporal_filter_size: tuple[int, ...] = (0,)
    strel_tail: np.ndarray | None = None
    tail_filter_iters: int = 1
    strel_cable: np.ndarray | None = None
    cable_filter_iters: int = 0
    crop_size: int = 80
    compute_raw_scalars: bool = False

    @classmethod
    def from_config(cls, config) -> ChunkParams:
        """Build from a :class:`moseq2_extract.config.Config`."""
        return cls(
            min_height=float(config.min_height),
            max_height=float(config.max_height),
            frame_dtype=str(config.frame_dtype),
            spatial_filter_size=tuple(int(k) for k in config.spatial_filter_size),
            temporal_filter_size=tuple(int(k) for k in config.temporal_filter_size),
            strel_tail=make_strel(config.tail_filter_shape, config.tail_filter_size),
            tail_filter_iters=int(config.tail_filter_iters),
            strel_cable=make_strel(config.cable_filter_shape, config.cable_filter_size),
            cable_filter_iters=int(config.cable_filter_iters),
            crop_size=int(config.crop_size[0]),
            compute_raw_scalars=bool(config.compute_raw_scalars),
        )

    @property
    def temporal_halo(self) -> int:
        """Frames of context needed on each side by the temporal median."""
        if any(k <= 0 for k in self.temporal_filter_size):
            return 0
        return sum(k // 2 for k in self.temporal_filter_size)


@dataclass
class FrameMeasures:
    """Per-frame measurements of a block of ``n`` frames (ROI-box pixel coordinates).

    Attributes
    ----------
    x, y : ndarray, (n,) float64
        Blob centroid (px, ROI box); NaN without a mouse.
    orientation : ndarray, (n,) float64
        Body axis angle modulo pi (radians, [-pi/2, pi/2]).
    major, minor : ndarray, (n,) float64
        Full axis lengths (px).
    area : ndarray, (n,) float64
        Blob area (px).
    height : ndarray, (n,) float64
        Mean height of the blob (mm); 0 without a mouse.
    crops : ndarray, (n, c, c) frame dtype
        Unfiltered heights, centred, axis east (not yet heading-corrected).
    filtered_crops : ndarray, (n, c, c) frame dtype
        Filtered heights in the same frame (flip evidence, classifiers).
    masks : ndarray, (n, c, c) bool
        The mouse blob in the same frame.
    """

    x: np.ndarray
    y: np.ndarray
    orientation: np.ndarray
    major: np.ndarray
    minor: np.ndarray
    area: np.ndarray
    height: np.ndarray
    crops: np.ndarray
    filtered_crops: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def concat(cls, parts: list[FrameMeasures]) -> FrameMeasures:
        names = cls.__dataclass_fields__
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})


def prepare_heights(
    raw: np.ndarray, background: np.ndarray, roi: np.ndarray, params: ChunkParams
) -> tuple[np.ndarray, np.ndarray]:
    """Heights and spatially filtered heights of a block of ROI-box frames.

    Parameters
    ----------
    raw : ndarray, (n, h, w) uint16
        Depth over the ROI box (mm).
    background, roi : ndarray, (h, w)
        Background (float32 mm) and arena mask (bool) over the box.

    Returns
    -------
    (heights, filtered) : two (n, h, w) arrays of ``params.frame_dtype``.
    """
    heights = subtract_background(raw, background, roi, min_height=params.min_height,
                                  max_height=params.max_height, frame_dtype=params.frame_dtype)
    filtered = filter_frames(heights, spatial_filter_size=params.spatial_filter_size,
                             strel_tail=params.strel_tail,
                             tail_filter_iters=params.tail_filter_iters,
                             strel_cable=params.strel_cable,
                             cable_filter_iters=params.cable_filter_iters)
    return heights, filtered


def measure_frames(
    heights: np.ndarray, filtered: np.ndarray, params: ChunkParams
) -> FrameMeasures:
    """Find the mouse in each frame, measure it and cut its egocentric crops.

    Parameters
    ----------
    heights, filtered : ndarray, (n, h, w)
        Unfiltered and filtered heights over the ROI box.

    Returns
    -------
    FrameMeasures
    """
    n = len(filtered)
    c = params.crop_size
    dtype = filtered.dtype
    x, y, theta, major, minor = (np.full(n, np.nan) for _ in range(5))
    area = np.zeros(n)
    height = np.zeros(n)
    crops = np.zeros((n, c, c), dtype)
    fcrops = np.zeros((n, c, c), dtype)
    masks = np.zeros((n, c, c), bool)
    thresh = params.min_height
    for i in range(n):
        frame = filtered[i]
        mask = (frame > thresh).view(np.uint8)
        blob, window = largest_blob(mask)
        if window is None or not np.isfinite(blob.x):
            continue
        bx, by, bw, bh = blob.bbox
        source = heights[i] if params.compute_raw_scalars else frame
        height[i] = cv2.mean(source[by:by + bh, bx:bx + bw], mask=window)[0]
        x[i], y[i], theta[i] = blob.x, blob.y, blob.orientation
        major[i], minor[i], area[i] = blob.major, blob.minor, blob.area
        m = crop_transform(blob.x, blob.y, blob.orientation, c)
        crops[i] = crop_rotate(heights[i], m, c)
        fcrops[i] = crop_rotate(frame, m, c)
        m_win = m.copy()
        m_win[:, 2] += m[:, :2] @ (bx, by)
        masks[i] = crop_rotate(window, m_win, c, nearest=True) > 0
    return FrameMeasures(x, y, theta, major, minor, area, height, crops, fcrops, masks)
