"""batch-extract's default plan: printed, and the same results as one session at a time."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
from click.testing import CliRunner

from moseq2_extract.batch.discovery import COMPLETE, find_sessions
from moseq2_extract.cli import cli
from moseq2_extract.pipeline.plan import available_cores
from moseq2_extract.synthetic import SessionSpec, write_session

N_FRAMES = 120
PLAN_RECORDS = ("metadata/uuid", "metadata/extraction/parameters/workers",
                "metadata/extraction/parameters/local_workers")


def _datasets(h5_path) -> dict[str, np.ndarray]:
    """Every dataset of a results file, by path (but the run's uuid, and the parameters
    that record the plan: ``workers`` and ``local_workers``)."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(h5_path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name not in PLAN_RECORDS:
                out[name] = np.asarray(obj[()])
        f.visititems(visit)
    return out


def test_default_plan_is_printed_and_matches_one_by_one(tmp_path):
    template = tmp_path / "template"
    for i, fmt in enumerate(("dat", "dat", "avi")):
        write_session(template / f"s{i}", SessionSpec(n_frames=N_FRAMES, seed=40 + i,
                                                      session_name=f"sess{i}",
                                                      subject_name=f"Mouse{i}"), fmt=fmt)
    default, one_by_one = tmp_path / "default", tmp_path / "one_by_one"
    shutil.copytree(template, default)
    shutil.copytree(template, one_by_one)
    runner = CliRunner()
    options = ["--extensions", ".dat", "--extensions", ".avi", "--no-report"]
    result = runner.invoke(cli, ["batch-extract", str(default), *options])
    assert result.exit_code == 0, result.output
    plan = [line for line in result.output.splitlines() if line.startswith("Plan: ")]
    assert len(plan) == 1, result.output
    cores = available_cores()
    assert f"({cores} cores, 3 sessions" in plan[0]
    if cores >= 2:  # short sessions on several cores: more than one at a time
        assert "sessions at a time" in plan[0] and "session processes" in plan[0]
    assert "3 done, 0 skipped, 0 failed" in result.output

    result = runner.invoke(cli, ["batch-extract", str(one_by_one), "--local-workers", "1",
                                 *options])
    assert result.exit_code == 0, result.output
    assert "Plan: 1 session at a time" in result.output

    got = {s.name: s for s in find_sessions(default, [".dat", ".avi"])}
    want = {s.name: s for s in find_sessions(one_by_one, [".dat", ".avi"])}
    assert sorted(got) == sorted(want) == ["s0", "s1", "s2"]
    for name, s in want.items():
        assert got[name].status == s.status == COMPLETE
        a, b = _datasets(got[name].h5_path), _datasets(s.h5_path)
        assert sorted(a) == sorted(b)
        assert "frames" in b and b["frames"].shape[0] == N_FRAMES
        for key in b:
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            if b[key].dtype.kind == "O":  # strings stored as objects
                assert a[key].tolist() == b[key].tolist(), f"{name}: {key} differs"
            else:
                assert a[key].tobytes() == b[key].tobytes(), f"{name}: {key} differs"
        assert got[name].h5_path.with_suffix(".mp4").read_bytes() == \
            s.h5_path.with_suffix(".mp4").read_bytes()
