"""batch-extract on SLURM: the legacy sbatch script, the dask-jobqueue path against a real
SLURM when one answers (Debian's slurm-wlm + munge, single node), else skipped.

To run the real-SLURM test on a Debian machine: ``apt-get install slurm-wlm munge``, start
``munged``, write ``/etc/slurm/slurm.conf`` for one node (``ProctrackType=proctrack/linuxproc``,
``TaskPlugin=task/none``, ``SelectType=select/cons_tres``, a ``NodeName`` with the machine's
CPUs and memory and a default ``PartitionName``), then start ``slurmctld`` and ``slurmd``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from moseq2_extract.batch.discovery import find_sessions
from moseq2_extract.cli import cli
from moseq2_extract.config import read_config_file


def fake_sessions(root: Path, n: int = 2) -> list[Path]:
    out = []
    for i in range(n):
        folder = root / f"s{i}"
        folder.mkdir(parents=True)
        (folder / "depth.dat").write_bytes(b"\0" * 16)
        (folder / "metadata.json").write_text("{}")
        out.append(folder / "depth.dat")
    return out


def test_legacy_sbatch_script_is_written_and_submitted(tmp_path, monkeypatch):
    depths = fake_sessions(tmp_path / "exp")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "sbatch.log"
    sbatch = bindir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\necho "$@" >> {log}\necho "Submitted batch job 1"\n')
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(cli, [
        "batch-extract", str(tmp_path / "exp"), "--cluster-type", "slurm",
        "--slurm-submit", "script", "-c", "3", "--memory", "7GB", "--partition", "long",
        "--wall-time", "1:00:00", "--job-extra-directives=--qos=high", "--prefix",
        "source activate moseq; ", "--min-height", "13", "--run-cmd"])
    assert result.exit_code == 0, result.output
    script = tmp_path / "exp" / "extract_out.sh"
    lines = script.read_text().splitlines()
    assert len(lines) == 2 and all(line in result.output for line in lines)
    submitted = log.read_text().splitlines()
    assert len(submitted) == 2
    for line, depth in zip(submitted, depths):
        assert line.startswith("-c 3 --mem=7GB -p long -t 1:00:00 --qos=high --wrap ")
        assert "source activate moseq; moseq2-extract extract --config-file" in line
        assert line.rstrip().endswith(f"--output-dir {depth.parent / 'proc'} {depth};")
        cfg = read_config_file(depth.parent / "proc" / "config.yaml")
        assert cfg["min_height"] == 13 and cfg["workers"] == 3


def test_dask_slurm_needs_sbatch(tmp_path, monkeypatch):
    fake_sessions(tmp_path / "exp", 1)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(cli, ["batch-extract", str(tmp_path / "exp"),
                                      "--cluster-type", "slurm"])
    assert result.exit_code == 2
    assert "sbatch is not on PATH" in result.output


def test_a_refused_submission_fails_at_once(tmp_path, monkeypatch):
    """sbatch saying no (bad partition, too much memory) must not leave the batch waiting."""
    fake_sessions(tmp_path / "exp", 1)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sbatch = bindir / "sbatch"
    sbatch.write_text("#!/bin/sh\necho 'sbatch: error: invalid partition specified: nope' >&2\n"
                      "exit 1\n")
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(cli, ["batch-extract", str(tmp_path / "exp"),
                                      "--cluster-type", "slurm", "--partition", "nope"])
    assert result.exit_code == 1
    assert "SLURM would refuse the jobs: sbatch: error: invalid partition specified: nope" \
        in result.output


def _slurm_partition() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return None
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P %a"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        name, _, avail = line.partition(" ")
        if out.returncode == 0 and avail.strip() == "up":
            return name.rstrip("*")
    return None


@pytest.mark.slow
def test_batch_extract_on_a_real_slurm_cluster(tmp_path):
    partition = _slurm_partition()
    if partition is None:
        pytest.skip("no SLURM controller answers on this machine")
    from moseq2_extract.synthetic import SessionSpec, write_session

    root = tmp_path / "exp"
    for i in range(2):
        write_session(root / f"s{i}", SessionSpec(n_frames=90, seed=i), fmt="dat")
    logs = tmp_path / "logs"
    result = CliRunner().invoke(cli, [
        "batch-extract", str(root), "--cluster-type", "slurm", "--partition", partition,
        "-c", "1", "--memory", "3GB", "--wall-time", "00:10:00",
        "--slurm-log-directory", str(logs)])
    assert result.exit_code == 0, result.output
    assert "SLURM via dask-jobqueue" in result.output
    assert "2 done, 0 skipped, 0 failed; 180 frames extracted" in result.output
    for s in find_sessions(root):
        assert s.complete
        with h5py.File(s.h5_path) as f:
            assert f["frames"].shape[0] == 90
    assert list(logs.glob("moseq2-extract-*.err")), "no SLURM job log was written"
