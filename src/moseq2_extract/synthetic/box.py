"""Heights of a synthetic session over its arena's box, made as the extraction makes them
(for tests and benchmarks of the per-frame pieces that take height frames)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..extract.frames import filter_frames, subtract_background
from .session import SessionSpec, SyntheticSession


@dataclass(frozen=True)
class BoxFrames:
    """Heights over the arena's bounding box and the truth in the box's coordinates.

    Attributes
    ----------
    raw : ndarray, (n, h, w) uint8
        Thresholded heights (mm), unfiltered.
    filtered : ndarray, (n, h, w) uint8
        Median 3, then the 9x9 tail opening when asked.
    true_x, true_y : ndarray, (n,) float64
        The mouse's true centroid (box pixels).
    """

    raw: np.ndarray
    filtered: np.ndarray
    true_x: np.ndarray
    true_y: np.ndarray


def box_frames(spec: SessionSpec, *, min_height: float, max_height: float,
               tail_filter: bool = True) -> BoxFrames:
    """Render ``spec`` and make its heights over the arena's box (background subtracted,
    thresholded to ``[min_height, max_height]`` mm, filtered)."""
    session = SyntheticSession(spec)
    truth = session.ground_truth()
    ys, xs = np.nonzero(truth.floor_mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    depth = np.ascontiguousarray(session.render(0, spec.n_frames)[:, y0:y1, x0:x1])
    raw = subtract_background(depth, truth.background[y0:y1, x0:x1],
                              truth.floor_mask[y0:y1, x0:x1], min_height=min_height,
                              max_height=max_height)
    strel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    filtered = filter_frames(raw, spatial_filter_size=(3,), strel_tail=strel,
                             tail_filter_iters=1 if tail_filter else 0)
    return BoxFrames(raw, filtered, truth.centroid_x - x0, truth.centroid_y - y0)
