"""TIFF images with scale factors (spec 5.3)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.image import read_image, write_image


def description(path) -> dict:
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].compression == 1  # uncompressed
        return json.loads(tif.pages[0].description)


def test_background_scale_factor(tmp_path):
    rng = np.random.default_rng(0)
    bg = rng.uniform(600, 1001, (24, 32))
    bg[0, 0] = 1001.0
    bg[1, 1] = 701.0
    path = write_image(tmp_path / "bground.tiff", bg)
    assert description(path) == {"shape": [24, 32], "scale_factor": "65"}
    stored = tifffile.imread(path)
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, np.floor(bg * 65).astype(np.uint16))
    back = read_image(path)
    assert back.dtype == np.float64
    np.testing.assert_allclose(back, bg, atol=1 / 65)
    assert back[1, 1] == 701.0  # whole millimetres come back exactly
    np.testing.assert_array_equal(read_image(path, scale=False), stored)
    assert [p.name for p in tmp_path.iterdir()] == ["bground.tiff"]


def test_roi_mask(tmp_path):
    roi = np.zeros((10, 12), bool)
    roi[2:8, 3:9] = True
    path = write_image(tmp_path / "roi_00.tiff", roi, scale_factor=65535)
    assert description(path)["scale_factor"] == "65535"
    assert set(np.unique(tifffile.imread(path))) == {0, 65535}
    np.testing.assert_array_equal(read_image(path), roi.astype(float))


def test_tuple_scale_maps_range(tmp_path):
    image = np.array([[600.0, 650.0, 700.0], [725.5, 750.0, 800.0]])
    path = write_image(tmp_path / "t.tiff", image, scale_factor=(650, 750))
    assert description(path)["scale_factor"] == "(650, 750)"
    np.testing.assert_array_equal(tifffile.imread(path)[0], [0, 0, 32767])
    back = read_image(path)
    np.testing.assert_allclose(back, np.clip(image, 650, 750), atol=100 / 65535)


def test_first_frame_list_convention_is_unscaled(tmp_path):
    frame = np.random.default_rng(1).integers(0, 900, (1, 6, 8), dtype=np.uint16)
    path = write_image(tmp_path / "first_frame.tiff", frame, scale_factor=[650, 750])
    assert description(path) == {"shape": [1, 6, 8], "scale_factor": "[650, 750]"}
    np.testing.assert_array_equal(tifffile.imread(path), frame)
    out = read_image(path)
    assert out.dtype == np.uint16 and out.shape == (1, 6, 8)
    np.testing.assert_array_equal(out, frame)


def test_unscaled_and_errors(tmp_path):
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    path = write_image(tmp_path / "plain.tiff", image, scale=False)
    assert description(path) == {"shape": [3, 4]}
    np.testing.assert_array_equal(read_image(path), image)
    with pytest.raises(InputFileError, match="no such file"):
        read_image(tmp_path / "none.tiff")
    bad = tmp_path / "bad.tiff"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputFileError, match=str(bad)):
        read_image(bad)


def test_stored_values_are_what_a_written_file_reads_back(tmp_path):
    from moseq2_extract.io.image import stored_values

    rng = np.random.default_rng(0)
    for trial in range(12):
        scale = (1.0, 700.0, 3 * 65535.0, 0.5)[trial % 4]
        image = (rng.random((20, 30)) * scale - (3.0 if trial % 3 == 0 else 0.0))
        image = image.astype(np.float32)
        image[2, 3] = np.nan if trial % 2 else image[2, 3]
        path = write_image(tmp_path / f"bg{trial}.tiff", image)
        assert stored_values(image).tobytes() == read_image(path).tobytes(), trial
