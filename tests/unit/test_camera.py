"""Depth-camera presets (camera.py): pixel <-> mm geometry, picking the preset of a file."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from moseq2_extract.camera import AZURE, KINECT, REALSENSE, camera_for_frame_size, detect_camera


def test_pinhole_geometry():
    sx, sy = KINECT.mm_per_px(731.0)
    assert sx == pytest.approx(2.0) and sy == pytest.approx(2.0)  # 731 / 365.5
    x, y = KINECT.px_to_mm(np.array([256.0, 266.0]), np.array([212.0, 202.0]), 731.0)
    np.testing.assert_allclose(x, [0.0, 20.0])  # the principal point is the origin
    np.testing.assert_allclose(y, [0.0, -20.0])  # y down


def test_binned_resolution_scales_the_focal_length():
    half = KINECT.with_resolution(256, 212)
    assert (half.width, half.height, half.fx, half.fy) == (256, 212, 182.75, 182.75)
    assert (half.cx, half.cy) == (128.0, 106.0)
    assert half.mm_per_px(670.0) == pytest.approx((2 * 670 / 365.5,) * 2)
    assert KINECT.with_resolution(512, 424) is KINECT


@pytest.mark.parametrize(("size", "name", "fx"), [
    ((512, 424), "kinect", KINECT.fx),
    ((640, 480), "realsense", REALSENSE.fx),
    ((640, 576), "azure", AZURE.fx),
    ((320, 288), "azure", AZURE.fx / 2),  # binned NFOV
    ((512, 512), "azure", AZURE.fx / 2),  # binned WFOV
    ((1024, 1024), "azure", AZURE.fx),
])
def test_camera_for_frame_size(size, name, fx):
    cam = camera_for_frame_size(*size)
    assert cam.name == name and (cam.width, cam.height) == size
    assert cam.fx == pytest.approx(fx)
    assert (cam.cx, cam.cy) == (size[0] / 2, size[1] / 2)


def test_unknown_frame_size_is_kinect_optics_scaled_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="moseq2_extract.camera"):
        cam = camera_for_frame_size(1024, 848)
    assert "unknown depth frame size 1024x848" in caplog.text
    assert cam.name == "kinect" and cam.fx == pytest.approx(2 * KINECT.fx)
    assert cam.pixel_format == "gray16le"


@pytest.mark.parametrize(("path", "camera_type", "size", "name", "pixel_format"), [
    ("s/depth.dat", "auto", None, "kinect", "gray16le"),
    ("s.tar.gz", "auto", (512, 424), "kinect", "gray16le"),
    ("rec.mkv", "auto", (640, 576), "azure", "gray16be"),
    ("rec.mkv", "auto", (320, 288), "azure", "gray16be"),
    ("depth.avi", "auto", (640, 480), "realsense", "gray16le"),
    ("depth.avi", "azure", None, "azure", "gray16be"),  # an explicit preset wins
    ("depth.dat", "realsense", (640, 480), "realsense", "gray16le"),
])
def test_detect_camera(path, camera_type, size, name, pixel_format):
    cam = detect_camera(path, camera_type, size)
    assert cam.name == name and cam.pixel_format == pixel_format
    if size is not None:
        assert (cam.width, cam.height) == size


def test_detect_camera_adapts_a_preset_to_the_frame_size():
    cam = detect_camera("depth.dat", "kinect", (256, 212))
    assert (cam.width, cam.height, cam.fx) == (256, 212, KINECT.fx / 2)


def test_detect_camera_errors_and_guesses(caplog):
    with pytest.raises(ValueError, match="camera_type must be one of"):
        detect_camera("depth.dat", "webcam")
    with caplog.at_level(logging.WARNING, logger="moseq2_extract.camera"):
        assert detect_camera("recording.avi", "auto") is KINECT
    assert "cannot tell the camera" in caplog.text
