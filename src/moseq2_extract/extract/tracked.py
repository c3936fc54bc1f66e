"""Blocks extracted with the EM tracker (``use_tracking_model``, spec 4.9, 4.13, 4.17).

The tracker carries a Gaussian from frame to frame, but blocks are extracted in parallel.
Each block therefore starts its own tracker :data:`WARMUP` frames before its first frame
(the block extractor reads them), initialised there as the original initialises a session
(``tracking_model_init`` over the first frames it sees), and runs it through those frames
before measuring.  Blocks start at fixed frames (every ``BLOCK`` frames from the first
extracted one, whatever the chunk size or the number of workers), so a frame's result
depends on nothing but the recording and the parameters.  The first block starts at the
first frame, exactly like the original.

Per frame: the tracker's log-likelihood image ``ll``; the mouse is the largest blob of
``filtered > min_height`` and ``ll > mask_threshold`` (-20, the original worker's value),
with this project's intruder, dropout and thin-structure handling; the stored mask is the
``ll`` crop, set to ``tracking_model_ll_clip`` where the crop is below ``min_height`` and
clipped below at it.
With ``model_smoothing_clips`` ``c0 < c1`` the block's features are smoothed by the
tracker's confidence before the crops are cut.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .em import EMState, init_from_frames, log_likelihood_image
from .em_post import clip_ll_crops, likelihood_weights, smooth_by_likelihood
from .em_tracker import EMTracker
from .mouse import Mouse, find_mouse
from .quality import Quality

if TYPE_CHECKING:  # pragma: no cover
    from .chunk import BlockKernel, FrameBlock

#: Frames a block's tracker runs through before the block's first frame.
WARMUP = 30
#: Frames over which ``min`` / ``med`` initialisation looks.
INIT_FRAMES = 10


@dataclass(frozen=True)
class TrackerParams:
    """The EM tracker's knobs (from the config)."""

    init: str = "raw"
    segment: bool = True
    ll_threshold: float = -100.0
    mask_threshold: float = -20.0
    ll_clip: float = -100.0
    rho_mean: float = 0.0
    rho_cov: float = 0.0
    smoothing_clips: tuple[float, float] = (0.0, 0.0)


def _smoothed(mice: list[Mouse | None], weights: np.ndarray) -> list[Mouse | None]:
    """The mice with centroid, axis and axis lengths smoothed by ``weights`` (spec 4.13)."""
    if all(m is None for m in mice):
        return mice
    feats = np.full((len(mice), 5), np.nan)
    for i, m in enumerate(mice):
        if m is not None:
            b = m.blob
            feats[i] = (b.x, b.y, b.orientation, b.major, b.minor)
    ok = np.isfinite(feats[:, 2])
    feats[ok, 2] = np.unwrap(2 * feats[ok, 2]) / 2  # axis, continuous modulo pi
    smooth = smooth_by_likelihood(feats, weights)
    out: list[Mouse | None] = []
    for i, m in enumerate(mice):
        if m is None:
            out.append(None)
            continue
        x, y, theta, major, minor = smooth[i]
        theta = (theta + np.pi / 2) % np.pi - np.pi / 2
        out.append(Mouse(replace(m.blob, x=float(x), y=float(y), orientation=float(theta),
                                 major=float(major), minor=float(minor)), m.mask,
                         m.cable_root))
    return out


def extract_tracked(kernel: BlockKernel, raw: np.ndarray, *, lead: int, count: int,
                    state: EMState | None = None,
                    fits: list[tuple[np.ndarray, np.ndarray]] | None = None,
                    around: np.ndarray | None = None) -> FrameBlock:
    """Extract frames ``lead .. lead + count - 1`` of ``raw`` with the EM tracker.

    Parameters
    ----------
    kernel : BlockKernel
        The session's kernel (its ``params.tracker`` is set).
    raw : ndarray, (m, h, w) uint16
        Depth over the ROI box: the frames before ``lead`` warm the tracker up (and feed
        a temporal filter), those after the block feed the temporal filter only.
    lead, count : int
    state : EMState, optional
        Start from this estimate instead of initialising on the first frames.
    fits : list, optional
        Receives each extracted frame's ``(mean, cov)``.
    around : ndarray, (m, H, W) uint16, optional
        The same frames over the kernel's surround (its intrusion test looks there);
        default ``raw``.

    Returns
    -------
    FrameBlock
    """
    from .chunk import FrameBlock, FrameMeasures, missing_pixels, prepare_heights, record_mouse
    from .frames import temporal_median
    from .results import BoxWindows

    params = kernel.params
    tp = params.tracker
    assert tp is not None
    around = raw if around is None else around
    heights, filtered = prepare_heights(raw, kernel.background, kernel.roi, params)
    if params.temporal_halo:
        filtered = temporal_median(filtered, params.temporal_filter_size)
    floor, ceiling = params.min_height, params.max_height
    if state is None:
        state = init_from_frames(filtered[:INIT_FRAMES], method=tp.init, floor=floor,
                                 ceiling=ceiling)
    tracker = EMTracker(state, floor=floor, ceiling=ceiling, ll_threshold=tp.ll_threshold,
                        segment=tp.segment, rho_mean=tp.rho_mean, rho_cov=tp.rho_cov)
    for j in range(lead):
        tracker.step(filtered[j], heights[j])
    out = FrameMeasures.empty(count, params.crop_size, filtered.dtype, likelihood=True)
    mice: list[Mouse | None] = []
    fits = [] if fits is None else fits
    mean_ll = np.zeros(count)
    smoothing = tp.smoothing_clips[0] < tp.smoothing_clips[1]
    for i in range(count):
        j = lead + i
        step = tracker.step(filtered[j], heights[j])
        zone = None if kernel.intrusions is None else kernel.intrusions(around[j])
        mouse, quality = find_mouse(
            filtered[j], min_height=floor, crop_size=params.crop_size,
            missing=missing_pixels(raw[j], kernel.roi), zone=zone,
            likely=step.ll > tp.mask_threshold, thin=params.remove_thin)
        if step.reinitialised or step.fell_back:
            quality |= Quality.TRACKER_FALLBACK
        out.quality[i] = quality
        mean_ll[i] = step.mean_ll
        fits.append((step.mean, step.cov))
        if smoothing:
            mice.append(mouse)
        elif mouse is not None:
            record_mouse(out, i, mouse, heights[j], filtered[j], filtered[j], (0, 0), params,
                         likelihood=step.ll)
    if smoothing:
        weights = likelihood_weights(mean_ll, tp.smoothing_clips)
        assert weights is not None
        for i, mouse in enumerate(_smoothed(mice, weights)):
            if mouse is not None:
                j = lead + i
                ll = log_likelihood_image(filtered[j], *fits[i])
                record_mouse(out, i, mouse, heights[j], filtered[j], filtered[j], (0, 0),
                             params, likelihood=ll)
    assert out.likelihood is not None
    out.likelihood[...] = clip_ll_crops(out.likelihood, out.crops, min_height=floor,
                                        ll_clip=tp.ll_clip)
    return FrameBlock(out, BoxWindows.from_dense(heights[lead:lead + count]))
