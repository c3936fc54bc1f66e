"""The per-block extraction: one path from raw depth to per-frame measures and crops.

:meth:`BlockKernel.extract` is the only way blocks are extracted (by the pipeline, by
``helpers.extract.process_extract_batches`` and by the stage-wise API).  It is made of the
per-frame pieces of :mod:`.frames`, :mod:`.features` and :mod:`.crop`:

* without a temporal filter, every step of one frame runs back to back (subtract, filter a
  window around the mouse, find the blob, cut the crops) into arrays allocated once per
  block, so the data of a frame stay in the cache;
* with one, the block is subtracted and filtered frame by frame into a stack
  (``prepare_heights``), the temporal median runs along it, and then each frame is measured
  (``measure_frames``).

Both give the same result for the same frames (the window filter is exact, see
:class:`~.frames.WindowFilter`).  No IO and no state across blocks here: what links frames
in time lives in :mod:`moseq2_extract.pipeline.sequence`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import cv2
import numpy as np

from ..config import Config
from ..roi.roi import make_strel
from .crop import crop_rotate, crop_transform
from .dropouts import fill_missing, fill_strel
from .frames import (
    HeightSubtractor,
    WindowFilter,
    filter_frames,
    nonzero_rect,
    subtract_background,
    temporal_median,
)
from .intrusion import IntrusionDetector, Surround
from .mouse import Mouse, find_mouse
from .quality import Quality
from .results import BoxWindows
from .tracked import WARMUP, TrackerParams, extract_tracked


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
    fill_dropouts: bool = True
    ignore_intrusions: bool = True
    remove_thin: bool = True
    alternatives: bool = True
    tracker: TrackerParams | None = None

    @classmethod
    def from_config(cls, config: Config) -> ChunkParams:
        """Build from a :class:`moseq2_extract.config.Config`."""
        return cls(
            min_height=float(config.min_height),
            max_height=float(config.max_height),
            frame_dtype=config.frame_dtype,
            spatial_filter_size=tuple(config.spatial_filter_size),
            temporal_filter_size=tuple(config.temporal_filter_size),
            strel_tail=make_strel(config.tail_filter_shape, config.tail_filter_size),
            tail_filter_iters=config.tail_filter_iters,
            strel_cable=make_strel(config.cable_filter_shape, config.cable_filter_size),
            cable_filter_iters=config.cable_filter_iters,
            crop_size=config.crop_size[0],
            compute_raw_scalars=config.compute_raw_scalars,
            fill_dropouts=config.fill_dropouts,
            ignore_intrusions=config.ignore_intrusions,
            remove_thin=config.remove_thin_structures,
            alternatives=config.choose_by_continuity,
            tracker=TrackerParams(
                init=config.tracking_model_init, segment=config.tracking_model_segment,
                ll_threshold=config.tracking_model_ll_threshold,
                mask_threshold=float(config.mask_threshold),
                ll_clip=config.tracking_model_ll_clip, rho_mean=float(config.rho_mean),
                rho_cov=float(config.rho_cov),
                smoothing_clips=(float(config.model_smoothing_clips[0]),
                                 float(config.model_smoothing_clips[1])))
            if config.use_tracking_model else None,
        )

    @property
    def lead_frames(self) -> int:
        """Frames of context needed before a block: the temporal median's, or the EM
        tracker's warm-up (:data:`~.tracked.WARMUP`)."""
        return max(self.temporal_halo, WARMUP if self.tracker is not None else 0)

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
    quality : ndarray, (n,) uint8
        :class:`~.quality.Quality` flags of each frame.
    likelihood : ndarray, (n, c, c) float32 or None
        With the EM tracker: its log-likelihood image in the same frame.
    cable : ndarray, (n,) float64 or None
        Where a thin structure cut off the mouse was attached, along the crop's +x axis
        (px from the crop's centre; NaN when none was cut): a tether's end is the head.
    alternatives : dict of int to FrameMeasures
        Row ``i`` -> the measures (one row) of frame ``i``'s second mouse-sized blob, for
        the frames that have one (``ChunkParams.alternatives``); the sequence assembler
        keeps the one that continues the track.
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
    quality: np.ndarray
    likelihood: np.ndarray | None = None
    cable: np.ndarray | None = None
    alternatives: dict[int, FrameMeasures] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def row_fields(cls) -> tuple[str, ...]:
        """Names of the per-frame arrays (row ``i`` is frame ``i``), every field but
        ``alternatives``."""
        return tuple(f.name for f in fields(cls) if f.name != "alternatives")

    @classmethod
    def empty(cls, n: int, crop_size: int, dtype, *, likelihood: bool = False
              ) -> FrameMeasures:
        """Measures of ``n`` frames without a mouse (NaN / 0), to be filled in place
        (with a zero ``likelihood`` stack if asked)."""
        c = int(crop_size)
        return cls(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan),
                   np.full(n, np.nan), np.full(n, np.nan), np.zeros(n), np.zeros(n),
                   np.zeros((n, c, c), dtype), np.zeros((n, c, c), dtype),
                   np.zeros((n, c, c), bool), np.full(n, int(Quality.NOT_FOUND), np.uint8),
                   np.zeros((n, c, c), np.float32) if likelihood else None,
                   np.full(n, np.nan))


def missing_pixels(raw: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """Pixels of the arena the camera read as 0, ``(..., h, w)`` bool."""
    if raw.ndim != 2:
        return (raw == 0) & roi
    # one frame (the per-frame loop): OpenCV's 0/255 and 0/1 masks, a third of numpy's time
    zero = cv2.compare(raw, 0, cv2.CMP_EQ)  # type: ignore[call-overload]
    return cv2.bitwise_and(zero, np.asarray(roi, bool).view(np.uint8)).view(bool)


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
    (heights, filtered) : two (n, h, w) arrays of ``params.frame_dtype``; with
    ``params.fill_dropouts`` the heights have their missing pixels filled
    (:func:`~.dropouts.fill_missing`).
    """
    heights = subtract_background(raw, background, roi, min_height=params.min_height,
                                  max_height=params.max_height, frame_dtype=params.frame_dtype)
    if params.fill_dropouts:
        strel = fill_strel()
        for i in range(len(heights)):
            fill_missing(heights[i], missing_pixels(raw[i], roi), strel)
    filtered = filter_frames(heights, spatial_filter_size=params.spatial_filter_size,
                             strel_tail=params.strel_tail,
                             tail_filter_iters=params.tail_filter_iters,
                             strel_cable=params.strel_cable,
                             cable_filter_iters=params.cable_filter_iters)
    return heights, filtered


def _measure_into(out: FrameMeasures, i: int, heights: np.ndarray, window: np.ndarray,
                  origin: tuple[int, int], full: np.ndarray, params: ChunkParams, *,
                  missing: np.ndarray | None = None, zone: np.ndarray | None = None) -> None:
    """Find the mouse in one frame and fill row ``i`` of ``out``.

    Parameters
    ----------
    heights : ndarray, (h, w)
        Unfiltered heights over the ROI box.
    window : ndarray
        Filtered heights of the part of the box at ``origin`` = ``(x, y)``; zero around it.
    full : ndarray, (h, w)
        The whole filtered frame: zero outside ``window`` (the crops of filtered heights are
        cut from it, so they do not depend on the window's extent).
    missing, zone
        Of :func:`~.mouse.find_mouse`, over ``window``.
    """
    mouse, out.quality[i] = find_mouse(window, min_height=params.min_height,
                                       crop_size=params.crop_size, origin=origin,
                                       missing=missing, zone=zone, thin=params.remove_thin,
                                       alternative=params.alternatives)
    if mouse is None:
        return
    record_mouse(out, i, mouse, heights, window, full, origin, params)
    if mouse.alternative is not None:
        other = FrameMeasures.empty(1, params.crop_size, out.crops.dtype)
        record_mouse(other, 0, mouse.alternative, heights, window, full, origin, params)
        frame_flags = out.quality[i] & ~(Quality.THIN_REMOVED | Quality.PART_MISSING)
        other.quality[0] = frame_flags | Quality.NOT_LARGEST
        out.alternatives[i] = other


def record_mouse(out: FrameMeasures, i: int, mouse: Mouse, heights: np.ndarray,
                 window: np.ndarray, full: np.ndarray, origin: tuple[int, int],
                 params: ChunkParams, *, likelihood: np.ndarray | None = None) -> None:
    """Fill row ``i`` of ``out`` with ``mouse``'s measures and crops (arguments as in
    :func:`_measure_into`; ``likelihood`` is the frame's (h, w) EM log-likelihood image,
    cut into ``out.likelihood``).  The crops follow ``mouse.blob``'s centroid and axis."""
    blob, blob_mask = mouse.blob, mouse.mask
    ox, oy = origin
    bx, by, bw, bh = blob.bbox
    if params.compute_raw_scalars:
        source = heights[oy + by:oy + by + bh, ox + bx:ox + bx + bw]
    else:
        source = window[by:by + bh, bx:bx + bw]
    out.height[i] = cv2.mean(source, mask=blob_mask)[0]
    out.x[i], out.y[i], out.orientation[i] = blob.x, blob.y, blob.orientation
    out.major[i], out.minor[i], out.area[i] = blob.major, blob.minor, blob.area
    c = params.crop_size
    m = crop_transform(blob.x, blob.y, blob.orientation, c)
    if mouse.cable_root is not None and out.cable is not None:
        out.cable[i] = m[0] @ (*mouse.cable_root, 1.0) - (c - 1) / 2.0
    crop_rotate(heights, m, c, out=out.crops[i])
    crop_rotate(full, m, c, out=out.filtered_crops[i])
    if likelihood is not None and out.likelihood is not None:
        out.likelihood[i] = crop_rotate(likelihood, m, c)
    m_win = m.copy()
    m_win[:, 2] += m[:, :2] @ (ox + bx, oy + by)
    crop_rotate(blob_mask, m_win, c, nearest=True, out=out.masks[i].view(np.uint8))  # 0/1


def measure_frames(
    heights: np.ndarray, filtered: np.ndarray, params: ChunkParams, *,
    missing: np.ndarray | None = None, zones: list[np.ndarray | None] | None = None
) -> FrameMeasures:
    """Find the mouse in each frame, measure it and cut its egocentric crops.

    Parameters
    ----------
    heights, filtered : ndarray, (n, h, w)
        Unfiltered and filtered heights over the ROI box.
    missing : ndarray, (n, h, w) bool, optional
        Pixels without a reading (see :func:`_measure_into`).
    zones : list of ((h, w) uint8 or None), optional
        Each frame's intruder zone.

    Returns
    -------
    FrameMeasures
    """
    n = len(filtered)
    out = FrameMeasures.empty(n, params.crop_size, filtered.dtype)
    for i in range(n):
        _measure_into(out, i, heights[i], filtered[i], (0, 0), filtered[i], params,
                      missing=None if missing is None else missing[i],
                      zone=None if zones is None else zones[i])
    return out


@dataclass
class FrameBlock:
    """Output of one block, filled row range by row range by :class:`BlockKernel`.

    Attributes
    ----------
    measures : FrameMeasures
    box : BoxWindows
        Unfiltered heights over the ROI box, as each frame's rectangle of non-zero pixels.
    """

    measures: FrameMeasures
    box: BoxWindows

    def __len__(self) -> int:
        return len(self.box)


class BlockKernel:
    """The extraction of blocks of one session's frames (over its ROI box).

    Each thread works on its own one-frame buffers; without a temporal filter a block's
    heights over the whole box are never stored, only their rectangle around the mouse
    (for the preview).

    Parameters
    ----------
    background, roi : ndarray, (h, w)
        Background (mm) and arena mask over the ROI box.
    params : ChunkParams
    surround : Surround, optional
        The frame around the box (used with ``params.ignore_intrusions``): the frames
        given to :meth:`extract` then cover its outer box, so an arm is seen outside
        the arena also where the arena touches the box's edge.
    """

    def __init__(self, background: np.ndarray, roi: np.ndarray, params: ChunkParams, *,
                 surround: Surround | None = None):
        self.params = params
        self.surround = surround if params.ignore_intrusions else None
        self.background = background
        self.roi = roi
        self.shape: tuple[int, int] = (int(np.shape(roi)[0]), int(np.shape(roi)[1]))
        self.subtract = HeightSubtractor(background, roi, min_height=params.min_height,
                                         max_height=params.max_height,
                                         frame_dtype=params.frame_dtype)
        self.filter = WindowFilter(spatial_filter_size=params.spatial_filter_size,
                                   strel_tail=params.strel_tail,
                                   tail_filter_iters=params.tail_filter_iters,
                                   strel_cable=params.strel_cable,
                                   cable_filter_iters=params.cable_filter_iters,
                                   dtype=self.subtract.dtype)
        self.intrusions = (IntrusionDetector(background, roi, max_height=params.max_height,
                                             surround=surround)
                           if params.ignore_intrusions else None)
        self.fill = fill_strel() if params.fill_dropouts else None
        # the fill's closing needs its radius around the heights' rectangle
        self._margin = 0 if self.fill is None else max(self.fill.shape) // 2
        self._local = threading.local()

    def extract(self, raw: np.ndarray, *, lead: int = 0, count: int | None = None,
                frame_done: Callable[[int], None] | None = None) -> FrameBlock:
        """Extract frames ``lead .. lead + count - 1`` of ``raw``.

        Parameters
        ----------
        raw : ndarray, (m, h, w) uint16
            Depth (mm) over the ROI box (over the surround's outer box when the kernel
            has one).  With a temporal filter it holds
            ``params.temporal_halo`` neighbours on each side of the frames to extract
            (fewer at the ends of the recording), with the EM tracker
            ``params.lead_frames`` before them; otherwise only those frames.
        lead : int
            Rows of ``raw`` before the first frame to extract.
        count : int, optional
            Frames to extract (default: all rows after ``lead``).
        frame_done : callable(row), optional
            Called with each row of ``raw`` once nothing reads it any more, in order,
            where the frames are extracted one by one (without a temporal filter or the
            EM tracker), so that the caller can let go of it (a mapped file's pages).

        Returns
        -------
        FrameBlock
            Row ``i`` is row ``lead + i`` of ``raw``.
        """
        n = len(raw) - lead if count is None else int(count)
        around = raw  # what the intrusion test looks at
        if self.surround is not None:
            raw = self.surround.inner(raw)
        if self.params.tracker is not None:
            return extract_tracked(self, raw, lead=lead, count=n, around=around)
        if self.params.temporal_halo:
            heights, filtered = prepare_heights(raw, self.background, self.roi, self.params)
            filtered = temporal_median(filtered, self.params.temporal_filter_size)
            heights = heights[lead:lead + n]
            mine = raw[lead:lead + n]
            zones = None if self.intrusions is None else [
                self.intrusions(f) for f in around[lead:lead + n]]
            measures = measure_frames(heights, filtered[lead:lead + n], self.params,
                                      missing=missing_pixels(mine, self.roi), zones=zones)
            return FrameBlock(measures, BoxWindows.from_dense(heights))
        block = self._new_block(n)
        self._run(raw[lead:lead + n], block, around[lead:lead + n], frame_done=frame_done,
                  first_row=lead)
        return block

    def _new_block(self, n: int) -> FrameBlock:
        dtype = self.subtract.dtype
        return FrameBlock(FrameMeasures.empty(n, self.params.crop_size, dtype),
                          BoxWindows.empty(n, self.shape, dtype))

    def _buffers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This thread's (heights, filtered, uint16 scratch) one-frame buffers."""
        bufs = getattr(self._local, "buffers", None)
        if bufs is None:
            dtype = self.subtract.dtype
            bufs = self._local.buffers = (np.empty(self.shape, dtype),
                                          np.zeros(self.shape, dtype),
                                          self.subtract.new_scratch())
        return bufs

    def _run(self, raw: np.ndarray, block: FrameBlock, around: np.ndarray, *,
             frame_done: Callable[[int], None] | None = None, first_row: int = 0) -> None:
        """Every step of each frame back to back (no temporal filter); ``around`` holds
        the same frames for the intrusion test; ``frame_done(first_row + i)`` follows
        frame ``i`` (its row in the caller's array)."""
        heights, full, scratch = self._buffers()
        out = block.measures
        for i in range(len(raw)):
            self.subtract(raw[i], heights, scratch)
            rect = nonzero_rect(heights)
            if rect[2] == 0:
                if frame_done is not None:
                    frame_done(first_row + i)
                continue
            y0, y1, x0, x1 = win = self.filter.window(rect, self.shape, margin=self._margin)
            missing = zone = None
            if self.fill is not None:
                missing = missing_pixels(raw[i][y0:y1, x0:x1], self.roi[y0:y1, x0:x1])
                fill_missing(heights[y0:y1, x0:x1], missing, self.fill,
                             rect=(rect[0] - x0, rect[1] - y0, rect[2], rect[3]))
            if self.intrusions is not None:
                zone = self.intrusions(around[i])
                zone = None if zone is None else zone[y0:y1, x0:x1]
            bx, by, bw, bh = rect
            block.box.set(i, rect, heights[by:by + bh, bx:bx + bw].copy())
            window = self.filter(heights, win)
            full[y0:y1, x0:x1] = window  # zero elsewhere: the whole filtered frame
            _measure_into(out, i, heights, window, (x0, y0), full, self.params,
                          missing=missing, zone=zone)
            full[y0:y1, x0:x1] = 0
            if frame_done is not None:
                frame_done(first_row + i)
