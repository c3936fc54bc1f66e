"""Downstream proof: moseq2-pca 1.4.0 trains and applies a PCA on our output.

Installs moseq2-pca 1.4.0 (PyPI) into its own virtual environment (default
``/opt/moseq2-pca-venv``, or ``$MOSEQ2_PCA_VENV``; created when missing), writes three
synthetic sessions (.dat, .avi, .tar.gz), and with our tool runs ``batch-extract``,
``aggregate-results`` and ``generate-index``; then runs moseq2-pca's ``train-pca`` and
``apply-pca`` on the aggregate folder and checks what they wrote:

* ``_pca/pca.h5``: ``components`` (k, c*c), ``mean`` (c*c,), explained variances (k,);
* ``_pca/pca_scores.h5``: for every session of our ``moseq2-index.yaml`` (by uuid),
  ``scores/<uuid>`` (n_frames, k) with finite values and ``scores_idx/<uuid>`` (n_frames,).

Usage::

    python benchmarks/check_downstream_pca.py [--frames 600] [--workdir DIR] [--keep]

Exit status 0 when every check passes.  Needs network access to PyPI the first time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PCA_VERSION = "1.4.0"
DEFAULT_VENV = Path(os.environ.get("MOSEQ2_PCA_VENV", "/opt/moseq2-pca-venv"))


def sh(cmd: list[str], cwd: Path | None = None, timeout: int = 1800) -> str:
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
        raise SystemExit(f"command failed with status {proc.returncode}")
    return proc.stdout


def ensure_venv(venv: Path) -> Path:
    """The moseq2-pca executable of ``venv``, installing it when needed."""
    python = venv / "bin" / "python"
    if not python.exists():
        sh([sys.executable, "-m", "venv", str(venv)])
    have = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                           "print(m.version('moseq2-pca'))"], capture_output=True, text=True)
    if have.stdout.strip() != PCA_VERSION:
        sh([python, "-m", "pip", "install", "-q", f"moseq2-pca=={PCA_VERSION}"], timeout=3600)
    exe = venv / "bin" / "moseq2-pca"
    if not exe.exists():
        raise SystemExit(f"{exe} missing after installing moseq2-pca")
    return exe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    args = parser.parse_args()

    import h5py
    import numpy as np
    import yaml

    from moseq2_extract.synthetic import SessionSpec, write_session

    t0 = time.perf_counter()
    pca = ensure_venv(args.venv)
    version = sh([pca, "--version"]).strip()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="moseq2_pca_check_"))
    if work.exists() and args.workdir is not None:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    ours = [sys.executable, "-m", "moseq2_extract.cli"]
    try:
        for i, fmt in enumerate(("dat", "avi", "tar.gz")):
            write_session(work / "data" / f"rec{i}", SessionSpec(
                n_frames=args.frames, seed=40 + i, session_name=f"rec{i}",
                subject_name=f"mouse{i}"), fmt=fmt)
        sh(ours + ["batch-extract", work / "data", "--extensions", ".dat", "--extensions",
                   ".avi"])
        agg = work / "data" / "aggregate_results"
        sh(ours + ["aggregate-results", "-i", work / "data", "-o", agg])
        index_file = work / "data" / "moseq2-index.yaml"
        sh(ours + ["generate-index", "-i", agg, "-o", index_file])
        index = yaml.safe_load(index_file.read_text())
        uuids = {e["uuid"]: e["path"][0] for e in index["files"]}
        assert len(uuids) == 3, f"expected 3 sessions in the index, got {len(uuids)}"

        out = work / "data" / "_pca"
        common = ["--cluster-type", "local", "-n", "1", "-m", "4GB", "--dask-port", "0"]
        sh([pca, "train-pca", "-i", agg, "-o", out, "--overwrite-pca-train", "True", *common],
           cwd=work / "data")
        sh([pca, "apply-pca", "-i", agg, "-o", out, *common], cwd=work / "data")

        checks: dict[str, object] = {"moseq2-pca": version}
        with h5py.File(out / "pca.h5", "r") as f:
            comps, mean = f["components"], f["mean"]
            k, features = comps.shape
            with h5py.File(next(iter(uuids.values())), "r") as r:
                crop = r["frames"].shape[1] * r["frames"].shape[2]
            assert features == crop, f"components have {features} features, crops {crop}"
            assert mean.shape == (crop,) and f["explained_variance_ratio"].shape == (k,)
            ratio = f["explained_variance_ratio"][()]
            assert np.all(np.isfinite(comps[()])) and 0 < ratio.sum() <= 1.0 + 1e-6
            checks["components"] = [int(k), int(features)]
            checks["explained_variance_first_10"] = round(float(ratio[:10].sum()), 4)
        with h5py.File(out / "pca_scores.h5", "r") as f:
            assert set(f["scores"]) == set(uuids), "scores are not keyed by our uuids"
            shapes = {}
            for uid, h5 in uuids.items():
                with h5py.File(h5, "r") as r:
                    n = r["frames"].shape[0]
                scores = f["scores"][uid][()]
                assert scores.shape == (n, k), f"{uid}: scores {scores.shape}, want {(n, k)}"
                assert f["scores_idx"][uid].shape == (n,)
                assert np.isfinite(scores).mean() > 0.9, f"{uid}: scores mostly NaN"
                shapes[uid] = list(scores.shape)
            checks["scores"] = shapes
        checks["seconds"] = round(time.perf_counter() - t0, 1)
        checks["result"] = "PASS"
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(checks, indent=2))
    if args.json:
        args.json.write_text(json.dumps(checks, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
