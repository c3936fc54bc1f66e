"""Bad input: one clear line naming the file, non-zero exit, nothing that looks complete."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from moseq2_extract.cli import cli
from moseq2_extract.pipeline.workers import start_method
from moseq2_extract.synthetic import GroundTruth

FRAME_BYTES = 512 * 424 * 2


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def error_lines(result):
    return [line for line in result.output.splitlines() if line.startswith("Error")]


def no_result_left(folder):
    proc = folder / "proc"
    return not (proc / "results_00.h5").exists() and not [
        p for p in proc.glob("*") if "partial" in p.name] if proc.exists() else True


def test_missing_depth_file(tmp_path):
    result = run("extract", tmp_path / "depth.dat")
    assert result.exit_code == 2
    assert "depth.dat" in result.output and "does not exist" in result.output


def test_empty_depth_file(tmp_path):
    (tmp_path / "depth.dat").write_bytes(b"")
    result = run("extract", tmp_path / "depth.dat")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1 and "depth.dat" in lines[0]
    assert no_result_left(tmp_path)


def test_truncated_last_frame_is_dropped_with_warning(session_factory, caplog):
    depth = session_factory("dat", n_frames=90, seed=2)
    with open(depth, "ab") as fh:
        fh.write(b"\x00" * (FRAME_BYTES // 3))
    (depth.parent / "depth_ts.txt").write_text(
        "\n".join((depth.parent / "depth_ts.txt").read_text().splitlines()[:90]) + "\n")
    result = run("extract", depth)
    assert result.exit_code == 0, result.output
    assert "partial" in caplog.text or "incomplete" in caplog.text.lower() or \
        "ignored" in caplog.text
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        assert len(f["frames"]) == 90


def test_timestamp_count_mismatch_extracts_overlap_and_warns(session_factory):
    depth = session_factory("dat", n_frames=90, seed=2)
    ts = depth.parent / "depth_ts.txt"
    ts.write_text("\n".join(ts.read_text().splitlines()[:80]) + "\n")
    result = run("extract", depth)
    assert result.exit_code == 0, result.output
    warn = [line for line in result.output.splitlines() if line.startswith("Warning")]
    assert len(warn) == 1 and "80" in warn[0] and "90" in warn[0]
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        assert len(f["frames"]) == 80 and len(f["timestamps"]) == 80


def test_unreadable_video(tmp_path):
    (tmp_path / "depth.avi").write_bytes(b"RIFF" + b"\x13" * 5000)
    (tmp_path / "depth_ts.txt").write_text("1\n2\n")
    result = run("extract", tmp_path / "depth.avi")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1 and "depth.avi" in lines[0]
    assert no_result_left(tmp_path)


def test_no_floor_in_depth_range(session_factory):
    depth = session_factory("dat", n_frames=60, seed=2)
    result = run("extract", depth, "--bg-roi-depth-range", 100, 200, "--manual-set-depth-range")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1 and "depth.dat" in lines[0] and "floor" in lines[0]
    assert no_result_left(depth.parent)


def test_frames_without_a_mouse_give_nan_and_zero_crops(session_factory):
    depth = session_factory("dat", n_frames=120, seed=4)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    frames = np.memmap(depth, dtype="<u2", mode="r+", shape=(120, 424, 512))
    empty = np.rint(truth.background).astype(np.uint16)
    frames[40:50] = empty  # the mouse leaves the picture
    frames.flush()
    del frames
    result = run("extract", depth)
    assert result.exit_code == 0, result.output
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        x = f["scalars/centroid_x_px"][()]
        assert np.all(np.isnan(x[40:50])) and np.all(np.isfinite(x[:40]))
        assert np.isnan(f["scalars/angle"][45])
        assert f["frames"][40:50].max() == 0
        assert f["scalars/area_px"][45] == 0


def test_nested_metadata_is_flattened(session_factory):
    depth = session_factory("dat", n_frames=60, seed=2)
    meta = json.loads((depth.parent / "metadata.json").read_text())
    meta["Extra"] = {"Rig": "B", "Lights": [1, 2]}
    (depth.parent / "metadata.json").write_text(json.dumps(meta))
    result = run("extract", depth)
    assert result.exit_code == 0, result.output
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        assert f["metadata/acquisition/Extra.Rig"][()] == b"B"


def test_broken_metadata_json(session_factory):
    depth = session_factory("dat", n_frames=60, seed=2)
    (depth.parent / "metadata.json").write_text("{not json")
    result = run("extract", depth)
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1 and "metadata.json" in lines[0]


@pytest.mark.parametrize("args,fragment", [
    (["--chunk-size", "0"], "chunk_size"),
    (["--spatial-filter-size", "4"], "odd"),
    (["--bg-roi-depth-range", "auto", "700"], "auto"),
    (["--camera-type", "kinekt"], "kinekt"),
])
def test_invalid_option_values(session_factory, args, fragment):
    depth = session_factory("dat", n_frames=30, seed=2)
    result = run("extract", depth, *args)
    assert result.exit_code == 2
    assert fragment in result.output
    assert not (depth.parent / "proc").exists()


def test_unknown_config_key_suggests(session_factory, tmp_path):
    depth = session_factory("dat", n_frames=30, seed=2)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("min_hight: 5\n")
    result = run("extract", depth, "--config-file", cfg)
    assert result.exit_code == 2
    assert "min_height" in result.output


def test_cli_value_beats_config_file(session_factory, tmp_path):
    depth = session_factory("dat", n_frames=40, seed=2)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("min_height: 5\nchunk_size: 20\n")
    result = run("extract", depth, "--config-file", cfg, "--min-height", "10")
    assert result.exit_code == 0, result.output
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        params = f["metadata/extraction/parameters"]
        assert params["min_height"][()] == 10 and params["chunk_size"][()] == 20


def test_extract_with_compress_writes_a_verified_avi(session_factory):
    depth = session_factory("dat", n_frames=40, seed=2)
    result = run("extract", depth, "--compress", "True")
    assert result.exit_code == 0, result.output
    avi = depth.with_suffix(".avi")
    assert avi.exists() and depth.exists()
    from moseq2_extract.io.video import open_depth_video

    with open_depth_video(avi) as a, open_depth_video(depth) as d:
        np.testing.assert_array_equal(a.read(0, 40), d.read(0, 40))


@pytest.mark.skipif(start_method() != "fork",
                    reason="the crash is planted in this process and inherited by forking")
def test_a_dead_worker_process_is_one_clear_error(session_factory, monkeypatch):
    import os

    from moseq2_extract.pipeline.blocks import BlockExtractor

    depth = session_factory("dat", n_frames=300, seed=2)
    real = BlockExtractor.extract

    def dies_on_the_second_block(self, a, b):
        if a >= 128:
            os._exit(9)  # as if killed
        return real(self, a, b)

    monkeypatch.setattr(BlockExtractor, "extract", dies_on_the_second_block)
    result = run("extract", depth, "--workers", "2")
    assert result.exit_code == 1
    errors = error_lines(result)
    assert len(errors) == 1 and "worker process" in errors[0], result.output
    assert "stopped unexpectedly" in errors[0]
    assert no_result_left(depth.parent)
    status = (depth.parent / "proc" / "results_00.yaml").read_text()
    assert "complete: false" in status
