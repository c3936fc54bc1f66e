"""Opening a depth video of any kind (io/video.py): the reader chosen, input errors."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.video import open_depth_video


def test_unknown_suffix_is_an_input_error(tmp_path):
    path = tmp_path / "depth.mp3"
    path.write_bytes(b"abc")
    with pytest.raises(InputFileError, match="depth.mp3"):
        open_depth_video(path)


def test_corrupt_or_non_video_file_is_an_input_error(tmp_path):
    bad = tmp_path / "depth.avi"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputFileError, match=str(bad)):
        open_depth_video(bad)
    text = tmp_path / "rec.mkv"
    text.write_text("not a video\n")
    with pytest.raises(InputFileError, match=str(text)):
        open_depth_video(text)
