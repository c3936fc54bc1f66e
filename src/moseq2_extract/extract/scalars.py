"""The 17 per-frame scalars, in pixels and millimetres."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import CameraModel
from .results import SCALAR_NAMES


@dataclass(frozen=True)
class MotionCarry:
    """Last frame's position and height, carried across chunks for the velocities.

    ``None`` fields mean "no previous frame" (start of the recording): the first velocity
    is then 0, as in the original.
    """

    x_px: float
    y_px: float
    x_mm: float
    y_mm: float
    height: float


def _backward_diff(values: np.ndarray, previous: float | None) -> np.ndarray:
    prev = values[:1] if previous is None else np.array([previous])
    return np.diff(np.concatenate([prev, values]))


def compute_scalars(
    *,
    x: np.ndarray,
    y: np.ndarray,
    angle: np.ndarray,
    major: np.ndarray,
    minor: np.ndarray,
    area: np.ndarray,
    height: np.ndarray,
    box_origin: tuple[int, int],
    camera: CameraModel,
    true_depth: float,
    carry: MotionCarry | None = None,
) -> tuple[dict[str, np.ndarray], MotionCarry | None]:
    """Scalars of consecutive frames.

    Parameters
    ----------
    x, y : ndarray, (n,)
        Centroid in ROI-box pixels (the h5 ``*_px`` centroids keep that convention).
    angle : ndarray, (n,)
        Heading (radians, unwrapped, counter-clockwise as displayed).
    major, minor, area : ndarray, (n,)
        Axis lengths (px) and blob area (px).
    height : ndarray, (n,)
        Mean blob height (mm).
    box_origin : (x0, y0)
        Full-frame pixel position of the ROI box's top-left corner.
    camera : CameraModel
        Intrinsics for the mm conversion (full-frame coordinates, pinhole model).
    true_depth : float
        Floor depth (mm).
    carry : MotionCarry, optional
        The previous frame (from the previous chunk).

    Returns
    -------
    (scalars, carry) : dict of the 17 names to (n,) float32, and the carry for the next
    chunk.
    """
    if len(x) == 0:
        return {k: np.zeros(0, np.float32) for k in SCALAR_NAMES}, carry
    x0, y0 = box_origin
    x_mm, y_mm = camera.px_to_mm(x + x0, y + y0, true_depth)
    sx, sy = camera.mm_per_px(true_depth)
    ca, sa = np.cos(angle), np.sin(angle)
    along = np.hypot(ca * sx, sa * sy)
    across = np.hypot(sa * sx, ca * sy)
    along = np.where(np.isfinite(along), along, 0.5 * (sx + sy))
    across = np.where(np.isfinite(across), across, 0.5 * (sx + sy))
    c = carry
    dx_px = _backward_diff(x, None if c is None else c.x_px)
    dy_px = _backward_diff(y, None if c is None else c.y_px)
    dx_mm = _backward_diff(x_mm, None if c is None else c.x_mm)
    dy_mm = _backward_diff(y_mm, None if c is None else c.y_mm)
    dh = _backward_diff(height, None if c is None else c.height)
    out = {
        "centroid_x_px": x,
        "centroid_y_px": y,
        "velocity_2d_px": np.hypot(dx_px, dy_px),
        "velocity_3d_px": np.sqrt(dx_px**2 + dy_px**2 + dh**2),
        "width_px": minor,
        "length_px": major,
        "area_px": area,
        "centroid_x_mm": x_mm,
        "centroid_y_mm": y_mm,
        "velocity_2d_mm": np.hypot(dx_mm, dy_mm),
        "velocity_3d_mm": np.sqrt(dx_mm**2 + dy_mm**2 + dh**2),
        "width_mm": minor * across,
        "length_mm": major * along,
        "area_mm": area * sx * sy,
        "height_ave_mm": height,
        "angle": angle,
        "velocity_theta": np.arctan2(dy_mm, dx_mm),
    }
    new_carry = MotionCarry(float(x[-1]), float(y[-1]), float(x_mm[-1]), float(y_mm[-1]),
                            float(height[-1]))
    return {k: np.asarray(out[k], dtype=np.float32) for k in SCALAR_NAMES}, new_carry
