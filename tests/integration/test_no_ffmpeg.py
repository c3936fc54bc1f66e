"""The tool needs no ffmpeg/ffprobe binary: run the demo with an empty PATH."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_without_ffmpeg_on_path(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"))
    result = subprocess.run(
        [sys.executable, "-m", "moseq2_extract.cli", "demo", str(tmp_path / "demo"),
         "--frames", "90", "--format", "avi"],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "centroid error" in result.stdout
    assert (tmp_path / "demo" / "proc" / "results_00.mp4").exists()
    # the demo writes the QC report too, and says where
    page = tmp_path / "demo" / "proc" / "report.html"
    assert f"QC report:       {page}" in result.stdout
    assert page.read_bytes().startswith(b"<!DOCTYPE html>")
    assert "Warning" not in result.stdout
