"""Depth-camera presets: resolution, intrinsics, ROI-ranking weights, pixel format.

The original tool converts pixels to millimetres with Kinect v2 constants for every camera and
a small-angle focal length (spec section 4.16, bug 7.1-7).  Here each camera carries its own
pinhole intrinsics, and conversions use full-frame pixel coordinates.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from .paths import is_archive

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraModel:
    """One depth camera's geometry and decoding preset.

    Attributes
    ----------
    name : str
        Preset name as used by ``camera_type`` (``kinect``, ``azure``, ``realsense``).
    width, height : int
        Native depth resolution in pixels.
    fx, fy : float
        Focal lengths in pixels.
    cx, cy : float
        Principal point in pixels (full-frame coordinates).
    bg_roi_weights : tuple of float
        Weights for (area, extent, distance-to-centre) ROI ranking.
    pixel_format : str
        16-bit grey pixel format of its compressed video (``gray16le`` / ``gray16be``).
    movie_dtype : str
        numpy dtype string of raw frames.
    """

    name: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    bg_roi_weights: tuple[float, float, float]
    pixel_format: str
    movie_dtype: str

    def with_resolution(self, width: int, height: int) -> CameraModel:
        """Return this camera at another resolution (binned modes scale the focal length)."""
        if (width, height) == (self.width, self.height):
            return self
        scale = width / self.width
        return CameraModel(
            self.name, width, height, self.fx * scale, self.fy * scale,
            width / 2, height / 2, self.bg_roi_weights, self.pixel_format, self.movie_dtype,
        )

    def mm_per_px(self, depth_mm: float) -> tuple[float, float]:
        """Millimetres per pixel along x and y at ``depth_mm`` from the camera."""
        return depth_mm / self.fx, depth_mm / self.fy

    def px_to_mm(
        self, x_px: np.ndarray, y_px: np.ndarray, depth_mm: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Project full-frame pixel coordinates onto the plane at ``depth_mm``.

        Returns millimetres relative to the optical axis (x right, y down).
        """
        return (
            depth_mm * (np.asarray(x_px) - self.cx) / self.fx,
            depth_mm * (np.asarray(y_px) - self.cy) / self.fy,
        )


# Kinect v2 depth camera: 512x424, factory intrinsics are close to f = 365.5 px.
KINECT = CameraModel("kinect", 512, 424, 365.5, 365.5, 256.0, 212.0, (1.0, 0.1, 1.0),
                     "gray16le", "<u2")
# Azure Kinect depth camera (NFOV unbinned 640x576; all modes share the 1024x1024 sensor
# pitch, so binned modes halve the focal length).
AZURE = CameraModel("azure", 640, 576, 504.0, 504.0, 320.0, 288.0, (10.0, 0.1, 1.0),
                    "gray16be", ">u2")
# Intel RealSense D4xx depth at 640x480.
REALSENSE = CameraModel("realsense", 640, 480, 383.0, 383.0, 320.0, 240.0, (10.0, 0.1, 1.0),
                        "gray16le", "<u2")

PRESETS: dict[str, CameraModel] = {"kinect": KINECT, "azure": AZURE, "realsense": REALSENSE}
CAMERA_CHOICES = ("auto", "kinect", "azure", "realsense")

_AZURE_SIZES = {(640, 576): 1.0, (320, 288): 0.5, (512, 512): 0.5, (1024, 1024): 1.0}


def camera_for_frame_size(width: int, height: int) -> CameraModel:
    """Pick the camera whose native modes include ``width`` x ``height``.

    Unknown sizes fall back to Kinect geometry scaled to the frame (with a warning), rather
    than the original's big-endian Azure decode.
    """
    if (width, height) == (512, 424):
        return KINECT
    if (width, height) == (640, 480):
        return REALSENSE
    if (width, height) in _AZURE_SIZES:
        scale = _AZURE_SIZES[(width, height)]
        return CameraModel("azure", width, height, AZURE.fx * scale, AZURE.fy * scale,
                           width / 2, height / 2, AZURE.bg_roi_weights, AZURE.pixel_format,
                           AZURE.movie_dtype)
    logger.warning("unknown depth frame size %dx%d: using Kinect v2 optics scaled to it",
                   width, height)
    return KINECT.with_resolution(width, height)


def detect_camera(
    path: str | os.PathLike, camera_type: str, frame_size: tuple[int, int] | None = None
) -> CameraModel:
    """Resolve ``camera_type`` (``auto`` or a preset name) for one input file.

    Parameters
    ----------
    path : path-like
        The depth file; its suffix decides for ``auto`` (``.dat``/``.tar.gz`` Kinect,
        ``.mkv`` Azure, ``.avi`` by ``frame_size``).
    camera_type : str
        ``auto``, ``kinect``, ``azure`` or ``realsense``.
    frame_size : (width, height), optional
        Frame size of the video, used for ``.avi`` / ``.mkv`` and to adapt a preset.
    """
    name = str(path).lower()
    if camera_type not in CAMERA_CHOICES:
        raise ValueError(f"camera_type must be one of {CAMERA_CHOICES}, got {camera_type!r}")
    if camera_type != "auto":
        model = PRESETS[camera_type]
    elif is_archive(name) or name.endswith(".dat"):
        model = KINECT
    elif name.endswith(".mkv"):
        model = AZURE
    elif frame_size is not None:
        return camera_for_frame_size(*frame_size)
    else:
        logger.warning("%s: cannot tell the camera from the file name; assuming Kinect v2", path)
        model = KINECT
    if frame_size is not None and tuple(frame_size) != (model.width, model.height):
        if model.name == "azure" and tuple(frame_size) in _AZURE_SIZES:
            return camera_for_frame_size(*frame_size)
        return model.with_resolution(*frame_size)
    return model
