"""Height frames of synthetic sessions over the arena's box, for the EM tracker tests."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from moseq2_extract.extract.frames import filter_frames, subtract_background
from moseq2_extract.synthetic import SessionSpec, SyntheticSession

MIN_HEIGHT, MAX_HEIGHT = 10.0, 100.0


@dataclass(frozen=True)
class BoxFrames:
    """Heights over the arena's bounding box and the truth in the box's coordinates."""

    raw: np.ndarray        # (n, h, w) uint8, unfiltered heights
    filtered: np.ndarray   # (n, h, w) uint8, median 3 (+ tail opening when asked)
    true_x: np.ndarray     # (n,) true centroid, box pixels
    true_y: np.ndarray


def box_frames(case: str, n_frames: int, *, seed: int = 0, tail_filter: bool = True,
               **spec: object) -> BoxFrames:
    """``spec``: further :class:`SessionSpec` fields."""
    session = SyntheticSession(SessionSpec(n_frames=n_frames, seed=seed, case=case,
                                           **spec))  # type: ignore[arg-type]
    truth = session.ground_truth()
    ys, xs = np.nonzero(truth.floor_mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    depth = np.ascontiguousarray(session.render(0, n_frames)[:, y0:y1, x0:x1])
    raw = subtract_background(depth, truth.background[y0:y1, x0:x1],
                              truth.floor_mask[y0:y1, x0:x1], min_height=MIN_HEIGHT,
                              max_height=MAX_HEIGHT)
    strel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    filtered = filter_frames(raw, spatial_filter_size=(3,), strel_tail=strel,
                             tail_filter_iters=1 if tail_filter else 0)
    return BoxFrames(raw, filtered, truth.centroid_x - x0, truth.centroid_y - y0)
