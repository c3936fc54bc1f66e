"""Typed results of per-chunk extraction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Names of the per-frame scalars, in the order the h5 datasets are created (spec 5.1).
SCALAR_NAMES: tuple[str, ...] = (
    "centroid_x_px",
    "centroid_y_px",
    "velocity_2d_px",
    "velocity_3d_px",
    "width_px",
    "length_px",
    "area_px",
    "centroid_x_mm",
    "centroid_y_mm",
    "velocity_2d_mm",
    "velocity_3d_mm",
    "width_mm",
    "length_mm",
    "area_mm",
    "height_ave_mm",
    "angle",
    "velocity_theta",
)


@dataclass
class ChunkResult:
    """Everything extracted from one chunk of ``n`` frames.

    Attributes
    ----------
    frame_index : ndarray, (n,) int64
        Absolute video frame index of each row.
    frames : ndarray, (n, c, c) uint8 or uint16
        Egocentric height crops (mm above floor, unfiltered), mouse's axis horizontal.
    masks : ndarray, (n, c, c) bool
        Mouse mask in the same crop frame.
    scalars : dict of str to ndarray, (n,) float32
        The 17 scalars of :data:`SCALAR_NAMES`.
    flips : ndarray, (n,) bool or None
        True where the crop was rotated by 180 degrees by the heading decision.
    heading_confidence : ndarray, (n,) float32 or None
        Posterior probability of the chosen heading.
    box : ndarray, (n, h, w) uint8 or uint16
        Thresholded heights over the ROI bounding box (for the preview movie).
    """

    frame_index: np.ndarray
    frames: np.ndarray
    masks: np.ndarray
    scalars: dict[str, np.ndarray]
    box: np.ndarray
    flips: np.ndarray | None = None
    heading_confidence: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame_index)
