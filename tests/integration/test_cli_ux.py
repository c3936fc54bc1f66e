"""Issue 11 items 10-13: commands that help instead of surprise (generate-config, --help
by stage, -p/-v, the boolean forms, convert-raw-to-avi / copy-slice, --version and the
implementation recorded in the outputs).  Each test names the item it checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from moseq2_extract import IMPLEMENTATION, __version__
from moseq2_extract import config as cfg
from moseq2_extract.cli import cli
from moseq2_extract.io.timestamps import load_timestamps
from moseq2_extract.io.video import open_depth_video

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((ROOT / "tests" / "data" / "reference_layout.json").read_text())
REF_PYTHON = Path("/opt/moseq2-ref/bin/python")


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def run_process(*args, cwd: Path) -> subprocess.CompletedProcess:
    """The command in a process of its own (stderr is a pipe, not a terminal; logging is
    configured by the command, not by pytest)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "moseq2_extract.cli", *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def squash(text: str) -> str:
    return "".join(text.split())


# --- 10. generate-config -----------------------------------------------------------------
def test_item10_generate_config_refuses_to_overwrite_and_prints_the_path(tmp_path):
    target = tmp_path / "sub" / "my_config.yaml"
    result = run("generate-config", "-o", target)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(f"Wrote {target.resolve()} (")
    assert "base directory" not in result.output
    target.write_text("min_height: 5\n")  # the user's edits

    result = run("generate-config", "-o", target)
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {target}: already exists; not overwritten (use "
                                     "--force to replace it, or -o to write another file)")
    assert target.read_text() == "min_height: 5\n"

    result = run("generate-config", "-o", target, "--force")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(target.read_text()) == cfg.generate_config_dict()


def _comments_by_key(text: str) -> dict[str, str]:
    """Key -> the comment lines right above it, joined."""
    out, pending = {}, []
    for line in text.splitlines():
        if line.startswith("#"):
            pending.append(line.lstrip("#").strip())
        elif line and not line[0].isspace() and ":" in line:
            out[line.split(":", 1)[0]] = " ".join(pending)
            pending = []
        else:
            pending = []
    return out


def test_item10_each_key_has_its_help_and_valid_values_as_in_help(tmp_path):
    target = tmp_path / "config.yaml"
    assert run("generate-config", "-o", target).exit_code == 0
    comments = _comments_by_key(target.read_text())
    data = yaml.safe_load(target.read_text())
    assert set(comments) == set(data)
    help_text = squash(run("extract", "--help").output)
    for key in data:
        param = cfg.PARAM_BY_KEY[key]
        assert comments[key] == param.help_text, key
        if param.no_effect is None and key != "cluster_type":  # listed in --help
            assert squash(param.help_text) in help_text, key
    # the valid range is spelt out
    assert comments["crop_size"].endswith("[valid: 2 integers each >= 8]")
    assert comments["frame_dtype"].endswith("[valid: one of uint8, uint16]")
    assert comments["angle_hampel_span"].endswith("[valid: an integer >= 0, odd (0 = off)]")


@pytest.mark.parametrize("camera", ["k2", "azure"])
def test_item10_config_reads_back_identically(tmp_path, camera):
    target = tmp_path / "config.yaml"
    assert run("generate-config", "-o", target, "--camera-type", camera).exit_code == 0
    expected = cfg.generate_config_dict(camera)
    assert yaml.safe_load(target.read_text()) == expected
    assert cfg.read_config_file(target) == expected
    assert cfg.make_config(cfg.read_config_file(target)).crop_size == tuple(
        expected["crop_size"])
    if not REF_PYTHON.exists():
        return
    # the original's own loader reads the same dict
    code = ("import json, sys; from moseq2_extract.util import read_yaml; "
            "print(json.dumps(dict(read_yaml(sys.argv[1]))))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # not this package
    proc = subprocess.run([str(REF_PYTHON), "-c", code, str(target)], capture_output=True,
                          text=True, timeout=120, check=True, env=env, cwd=tmp_path)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(expected))


# --- 11. --help by stage, the original's forms, -p and -v --------------------------------
def _sections(text: str) -> list[str]:
    return re.findall(r"^(\S[^\n]*) options:$", text, flags=re.MULTILINE)


def test_item11_help_is_grouped_by_stage_and_shows_only_used_options():
    text = run("extract", "--help").output
    assert _sections(text) == ["Input", "ROI and background", "Extraction", "Tracking",
                               "Heading", "Output", "Performance", "General"]
    listed = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", text, flags=re.MULTILINE))
    for batch_only in ("--ncpus", "--partition", "--extensions", "--local-workers",
                       "--cluster-type", "--delete", "--output-file"):
        assert batch_only not in listed
    assert "no effect here:" in text and "--cluster-type" in text.split("no effect here:")[1]
    batch = run("batch-extract", "--help").output
    assert "Batch and cluster" in _sections(batch)
    assert re.search(r"^\s+-c, --ncpus", batch, flags=re.MULTILINE)
    assert "-p, --progress-bar" in batch and "-v, --verbose" in batch


def _params(command: str, *args: str) -> dict:
    cmd = cli.commands[command]
    with cmd.make_context(command, [*args]) as ctx:
        return ctx.params


def test_item11_every_original_option_name_and_short_form_is_accepted(tmp_path):
    depth = tmp_path / "depth.dat"
    depth.write_bytes(b"\0" * 16)
    extract = {p.name: p for p in cli.commands["extract"].params}
    batch = {p.name: p for p in cli.commands["batch-extract"].params}
    for key in REFERENCE["extract"]["results_yaml"]["parameters_keys"]:
        if key == "true_depth":
            continue
        flag = "--" + key.replace("_", "-")
        assert flag in extract[key].opts, key
        assert flag in batch[key].opts, key
    # the original's short flags (spec 1.0: -t is the temporal filter, -c crop / ncpus)
    params = _params("extract", "-p", "-m", "1", "-b", "100", "-o", "x", "-t", "5",
                     "-s", "5", "-n", "10", "-c", "90", "90", str(depth))
    assert (params["progress_bar"], params["mapping"], params["chunk_size"]) == (True, "1", 100)
    assert params["temporal_filter_size"] == (5,) and params["spatial_filter_size"] == (5,)
    assert params["num_frames"] == 10 and params["crop_size"] == (90, 90)
    params = _params("batch-extract", "-c", "4", str(tmp_path))
    assert params["ncpus"] == 4
    assert _params("copy-slice", "-c", "3", "9", str(depth))["copy_slice"] == (3, 9)


@pytest.mark.parametrize(("args", "expected"), [
    (["--use-tracking-model", "True"], True),  # the original's form
    (["--use-tracking-model", "false"], False),
    (["--use-tracking-model=yes"], True),
    (["--use-tracking-model"], True),  # the bare flag
    (["--no-use-tracking-model"], False),
    ([], False),
])
def test_item11_boolean_options_take_every_form(tmp_path, args, expected):
    depth = tmp_path / "depth.dat"
    depth.write_bytes(b"\0" * 16)
    params = _params("extract", *args, str(depth))
    assert params["use_tracking_model"] is expected
    assert _params("extract", "--no-bg-roi-fill-holes", str(depth))["bg_roi_fill_holes"] is False
    assert _params("extract", "--use-plane-bground", str(depth))["use_plane_bground"] is True


def test_item11_verbose_shows_informational_messages(session_factory, tmp_path):
    depth = session_factory("dat", n_frames=30, seed=3)
    args = ("copy-slice", depth, "-c", "0", "10", "-o", tmp_path / "clip.avi")
    quiet = run_process(*args, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO" not in quiet.stderr
    for verbose in ([*args[:1], "-v", *args[1:]], ["-v", *args]):
        (tmp_path / "clip.avi").unlink()
        loud = run_process(*verbose, cwd=tmp_path)
        assert loud.returncode == 0, loud.stderr
        assert re.search(r"^INFO: .*10 frames copied to .*clip\.avi and verified$",
                         loud.stderr, flags=re.MULTILINE), loud.stderr


def test_item11_progress_bar_is_drawn_into_a_pipe_only_with_p(session_factory, tmp_path):
    depth = session_factory("dat", n_frames=30, seed=3)
    plain = run_process("convert-raw-to-avi", depth, "-o", tmp_path / "a.avi", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "frame/s" not in plain.stderr
    bars = run_process("convert-raw-to-avi", depth, "-o", tmp_path / "b.avi", "-p",
                       cwd=tmp_path)
    assert bars.returncode == 0, bars.stderr
    assert "depth.dat: encode: 100%" in bars.stderr
    assert "depth.dat: verify: 100%" in bars.stderr


# --- 12. copy-slice timestamps, convert-raw-to-avi -----------------------------------------
@pytest.fixture(scope="module")
def sliced(session_factory):
    """A 120-frame session, frames 30-90 copied beside it and that copy extracted (with
    -p): ``(depth, clip, result, h5 path)``."""
    depth = session_factory("dat", n_frames=120, seed=7)
    clip = depth.parent / "clip.avi"
    copied = run("copy-slice", depth, "-c", 30, 90, "-o", clip)
    assert copied.exit_code == 0, copied.output
    result = run("extract", clip, "--output-dir", "proc_clip", "-p", "--no-report")
    assert result.exit_code == 0, result.output
    return depth, clip, result, depth.parent / "proc_clip" / "results_00.h5"


def test_item12_an_extracted_slice_has_the_slice_timestamps(sliced):
    depth, clip, _, h5 = sliced
    whole = load_timestamps(depth.parent / "depth_ts.txt")
    assert (depth.parent / "clip_ts.txt").is_file()
    with h5py.File(h5, "r") as f:
        stamps = f["timestamps"][()]
    np.testing.assert_array_equal(stamps, whole[30:90])
    with open_depth_video(clip) as reader, open_depth_video(depth) as source:
        assert np.array_equal(reader.read(0, 60), source.read(30, 90))


def test_item12_extract_draws_its_bar_with_p(sliced):
    *_, result, _ = sliced
    assert "clip.avi: 100%" in result.stderr


def test_item12_a_slice_is_never_named_to_read_the_whole_recordings_times(session_factory):
    depth = session_factory("dat", n_frames=40, seed=5)
    result = run("copy-slice", depth, "-c", 10, 20, "-o", depth.parent / "depth.avi")
    assert result.exit_code == 1
    assert result.output.strip().startswith(
        f"Error: {depth.parent / 'depth.avi'}: a copy of frames 10-20 named so would be read "
        "with depth_ts.txt, the whole recording's timestamps; give it another name")
    assert not (depth.parent / "depth.avi").exists()
    # the default name of a part says which part it is
    result = run("copy-slice", depth, "-c", 10, 20)
    assert result.exit_code == 0, result.output
    assert (depth.parent / "depth_10-20.avi").is_file()
    ts = load_timestamps(depth.parent / "depth_10-20_ts.txt")
    np.testing.assert_array_equal(ts, load_timestamps(depth.parent / "depth_ts.txt")[10:20])
    assert "its timestamps to" in result.output


def test_item12_convert_reports_its_rate(session_factory):
    depth = session_factory("dat", n_frames=30, seed=3)
    result = run("convert-raw-to-avi", depth)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"Wrote .*depth\.avi \(verified identical to the input; 30 frames in "
                        r"[\d.]+ s, \d+ frames/s encoded and verified\)",
                        result.output.strip()), result.output


# --- 13. which implementation wrote it -----------------------------------------------------
def test_item13_version_names_both():
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == (f"moseq2-extract, version {__version__} "
                                     f"(implementation {IMPLEMENTATION})")
    assert re.fullmatch(r"moseq2-extract-fast \d+\.\d+\.\d+", IMPLEMENTATION)


def test_item13_outputs_name_the_implementation(sliced):
    *_, h5 = sliced
    with h5py.File(h5, "r") as f:
        assert f["metadata/extraction/extract_version"][()] == b"1.4.0"  # as downstream reads
        assert f["metadata/extraction"].attrs["implementation"] == IMPLEMENTATION
    text = h5.with_suffix(".yaml").read_text()
    assert text.splitlines()[0] == f"# written by {IMPLEMENTATION} (extract_version 1.4.0)"
    assert set(yaml.safe_load(text)) == {"complete", "metadata", "parameters", "skip", "uuid"}
