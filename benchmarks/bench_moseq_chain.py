"""The whole MoSeq chain on this project's output (issue 12 part 3; heavy, not in CI).

Writes synthetic sessions (``moseq2_extract.synthetic``: .dat, .avi, .tar.gz; the .dat one
loses 12 frames in four gaps, as a Kinect drops them), extracts them with this project's
``batch-extract``, aggregates them (``aggregate-results``), gives the sessions two groups in
``moseq2-index.yaml`` (as a user would), then runs the published tools from PyPI in their own
virtual environment:

* moseq2-pca 1.4.0: ``train-pca``, ``apply-pca``, then this project's ``agg-to-index`` (points
  the index's ``pca_path`` at ``_pca/pca_scores.h5``, as the original's does), and
  ``compute-changepoints``;
* moseq2-model 1.4.0: ``learn-model`` (a few iterations);
* moseq2-viz 1.4.0: ``plot-scalar-summary`` and ``make-crowd-movies``.

Each step's exit status is checked, and what it wrote is checked by ``_chain_checks.py`` run
with the chain venv's interpreter (PCA shapes and explained variance, scores per session,
changepoint blocks, model labels per frame and groups, moseq2-viz's scalar table against the
synthetic ground truth, crowd movies decoded and the mouse placed over the raw frame's
mouse).  A table of steps, time and result is printed (``--json`` writes it too).

Usage::

    python benchmarks/bench_moseq_chain.py --setup      # create the chain venv (once)
    PYTHONPATH=src python benchmarks/bench_moseq_chain.py [--sessions 3] [--frames 900]
        [--iters 5] [--workdir DIR] [--keep] [--json FILE]

The venv is ``$MOSEQ2_CHAIN_VENV`` or ``/opt/moseq2-chain`` (``--venv``).  ``--setup`` installs
the three packages with ``moseq_chain_constraints.txt`` (the versions this was proven with;
``--no-constraints`` resolves afresh) and, when no ``ffmpeg`` is on PATH (moseq2-viz shells
out to it for crowd movies), imageio-ffmpeg's binary linked as ``<venv>/bin/ffmpeg``.
Exit status 0 when every step and check passes.
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
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKS = HERE / "_chain_checks.py"
CONSTRAINTS = HERE / "moseq_chain_constraints.txt"
PACKAGES = ("moseq2-pca==1.4.0", "moseq2-model==1.4.0", "moseq2-viz==1.4.0")
DEFAULT_VENV = Path(os.environ.get("MOSEQ2_CHAIN_VENV", "/opt/moseq2-chain"))
FORMATS = ("dat", "avi", "tar.gz")
GROUPS = ("ctrl", "test")


@dataclass
class Step:
    """One row of the result table."""

    step: str
    command: str
    seconds: float
    ok: bool
    detail: str


def setup_venv(venv: Path, python: str, constraints: bool) -> None:
    """Create ``venv`` with the three chain packages (idempotent)."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    if constraints:
        pip += ["-c", str(CONSTRAINTS)]
    subprocess.run(pip + list(PACKAGES), check=True)
    if shutil.which("ffmpeg") is None and not (venv / "bin" / "ffmpeg").exists():
        subprocess.run(pip + ["imageio-ffmpeg"], check=True)
        exe = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())"],
                             check=True, capture_output=True, text=True).stdout.strip()
        (venv / "bin" / "ffmpeg").symlink_to(exe)
    for tool in ("moseq2-pca", "moseq2-model", "moseq2-viz"):
        subprocess.run([str(venv / "bin" / tool), "--version"], check=True)


def chain_env(venv: Path) -> dict[str, str]:
    """Environment of the chain tools: the venv's bin first on PATH (its ffmpeg, if any),
    JAX on the CPU (no accelerator probing), matplotlib without a display, and no
    PYTHONPATH (our package stays out of their interpreter)."""
    env = dict(os.environ)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str] | None,
        log: Path) -> tuple[int, float]:
    """Run ``cmd``, output to ``log``; (exit status, seconds)."""
    t0 = time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=out,
                            stderr=subprocess.STDOUT, timeout=3600).returncode
    return rc, time.perf_counter() - t0


def tail(log: Path, n: int = 6) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-600:]


def set_groups(index_file: Path) -> dict[str, str]:
    """Give the indexed sessions alternating groups (a user's edit of the index)."""
    import yaml

    index = yaml.safe_load(index_file.read_text())
    for i, entry in enumerate(sorted(index["files"], key=lambda e: e["metadata"]["SessionName"])):
        entry["group"] = GROUPS[i % len(GROUPS)]
    index_file.write_text(yaml.safe_dump(index, sort_keys=True))
    return {e["metadata"]["SessionName"]: e["group"] for e in index["files"]}


def drop_frames(session: Path, gaps: list[tuple[int, int]]) -> int:
    """Remove frames from a .dat session as a camera that dropped them would: the depth
    frames, their ``depth_ts.txt`` lines (a timestamp gap remains) and, so the checks still
    line up, the per-frame rows of ``ground_truth.npz``.  ``gaps``: (first frame, count).

    Returns the number of frames removed.
    """
    import numpy as np

    truth = dict(np.load(session / "ground_truth.npz"))
    h, w = truth["background"].shape
    n = len(truth["timestamps_ms"])
    keep = np.ones(n, bool)
    for first, count in gaps:
        keep[first:first + count] = False
    frames = np.fromfile(session / "depth.dat", dtype="<u2").reshape(n, h, w)
    frames[keep].tofile(session / "depth.dat")
    lines = (session / "depth_ts.txt").read_text().splitlines()
    (session / "depth_ts.txt").write_text("".join(ln + "\n" for ln, k in zip(lines, keep) if k))
    np.savez(session / "ground_truth.npz", **{
        k: v[keep] if v.ndim and len(v) == n else v for k, v in truth.items()})
    return int((~keep).sum())


def write_sessions(data: Path, n_sessions: int, frames: int) -> int:
    """The synthetic sessions; the first (.dat) loses frames in four gaps (1, 2, 3 and 6
    frames, as a Kinect drops them).  Returns the number of frames dropped."""
    from moseq2_extract.synthetic import SessionSpec, write_session

    for i in range(n_sessions):
        write_session(data / f"rec{i}", SessionSpec(
            n_frames=frames, seed=40 + i, session_name=f"rec{i}", subject_name=f"mouse{i}"),
            fmt=FORMATS[i % len(FORMATS)])
    q = frames // 5
    return drop_frames(data / "rec0", [(q, 1), (2 * q, 2), (3 * q, 3), (4 * q, 6)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", action="store_true",
                        help="create/complete the chain venv, then exit")
    parser.add_argument("--no-constraints", action="store_true",
                        help="with --setup: let pip resolve the dependencies afresh")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that creates the venv (Python >= 3.10)")
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--frames", type=int, default=900, help="frames per session")
    parser.add_argument("--iters", type=int, default=5, help="learn-model iterations")
    parser.add_argument("--syllables", type=int, default=5,
                        help="crowd movies for this many syllables")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", type=Path, default=None, help="write the table here")
    args = parser.parse_args()

    if args.setup:
        setup_venv(args.venv, args.python, not args.no_constraints)
        return 0
    venv_bin = args.venv / "bin"
    if not all((venv_bin / t).exists() for t in ("moseq2-pca", "moseq2-model", "moseq2-viz")):
        print(f"{args.venv}: no chain venv; run `python {Path(__file__).name} --setup` first",
              file=sys.stderr)
        return 2
    if args.sessions < 3:
        parser.error("--sessions must be at least 3")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="moseq2_chain_"))
    if args.workdir is not None and work.exists():
        shutil.rmtree(work)
    data, logs = work / "data", work / "logs"
    logs.mkdir(parents=True)
    env = chain_env(args.venv)
    ours = [sys.executable, "-m", "moseq2_extract.cli"]
    pca, model, viz = (venv_bin / "moseq2-pca", venv_bin / "moseq2-model",
                       venv_bin / "moseq2-viz")
    agg, index = data / "aggregate_results", data / "moseq2-index.yaml"
    dask = ["--cluster-type", "local", "-n", "1", "-m", "4GB", "--dask-port", "0"]
    steps: list[Step] = []

    t0 = time.perf_counter()
    dropped = write_sessions(data, args.sessions, args.frames)
    steps.append(Step("synthetic sessions", f"write_session x{args.sessions}",
                      time.perf_counter() - t0, True,
                      f"{args.sessions} x {args.frames} frames ({', '.join(FORMATS)}); "
                      f"rec0 dropped {dropped} frames in 4 gaps"))

    plan: list[tuple[str, list[str | Path], Path | None, bool]] = [
        # (step, command, cwd, runs in the chain venv)
        ("batch-extract", ours + ["batch-extract", data, "--extensions", ".dat", "--extensions",
                                  ".avi", "--no-report"], None, False),
        ("aggregate-results", ours + ["aggregate-results", "-i", data, "-o", agg], None, False),
        ("train-pca", [pca, "train-pca", "-i", agg, "-o", data / "_pca",
                       "--overwrite-pca-train", "True", *dask], data, True),
        ("apply-pca", [pca, "apply-pca", "-i", agg, "-o", data / "_pca", *dask], data, True),
        ("agg-to-index", ours + ["agg-to-index", "-i", agg], None, False),
        ("compute-changepoints", [pca, "compute-changepoints", "-i", agg, "-o", data / "_pca",
                                  *dask], data, True),
        ("learn-model", [model, "learn-model", data / "_pca" / "pca_scores.h5",
                         data / "model" / "model.p", "--num-iter", str(args.iters),
                         "-i", index, "-p", "False", "--npcs", "10"], data, True),
        ("plot-scalar-summary", [viz, "plot-scalar-summary", index, "--output-file",
                                 data / "viz" / "scalars"], data, True),
        ("make-crowd-movies", [viz, "make-crowd-movies", index, data / "model" / "model.p",
                               "-o", data / "viz" / "crowd_movies", "--max-syllable",
                               str(args.syllables), "-m", "10", "--processes", "1"], data, True),
    ]
    failed = False
    for name, cmd, cwd, in_chain in plan:
        log = logs / f"{name}.log"
        words = [Path(cmd[0]).name, *cmd[1:]] if in_chain else ["moseq2-extract", *cmd[3:]]
        shown = " ".join(str(w).replace(str(work), "$W") for w in words)
        rc, secs = run(cmd, cwd=cwd or work, env=env if in_chain else None, log=log)
        if rc != 0:
            steps.append(Step(name, shown, secs, False, f"exit {rc}: {tail(log)}"))
            failed = True
            break
        detail, ok = "exit 0", True
        if name == "aggregate-results":
            groups = set_groups(index)
            detail = f"{len(list(agg.glob('*.h5')))} sessions; index groups {groups}"
        elif name == "agg-to-index":
            import yaml

            pca_path = yaml.safe_load(index.read_text()).get("pca_path")
            ok = pca_path == str(data / "_pca" / "pca_scores.h5")
            detail = f"index pca_path = {str(pca_path).replace(str(work), '$W')}"
        elif name == "batch-extract":
            detail = tail(log, 1)
        elif in_chain:
            proc = subprocess.run([str(venv_bin / "python"), str(CHECKS), name, str(work)],
                                  env=env, capture_output=True, text=True, timeout=1800)
            try:
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                ok, detail = bool(result["ok"]), str(result["detail"])
            except (IndexError, ValueError, KeyError):
                ok, detail = False, f"check crashed: {proc.stderr.strip()[-600:]}"
        steps.append(Step(name, shown, secs, ok, detail))
        if not ok:
            failed = True
            break

    total = sum(s.seconds for s in steps)
    width = max(len(s.step) for s in steps)
    print(f"MoSeq chain on {args.sessions} sessions x {args.frames} frames "
          f"(work folder {work}; shared machine, times indicative)")
    for s in steps:
        print(f"{s.step:<{width}}  {s.seconds:7.1f} s  {'PASS' if s.ok else 'FAIL'}  {s.detail}")
    print(f"{'total':<{width}}  {total:7.1f} s  {'FAIL' if failed else 'PASS'}")
    versions = subprocess.run([str(venv_bin / "python"), "-c",
                               "import importlib.metadata as m; print({p: m.version(p) for p in "
                               "('moseq2-pca','moseq2-model','moseq2-viz','jax-moseq','numpy')})"],
                              env=env, capture_output=True, text=True).stdout.strip()
    ffmpeg = shutil.which("ffmpeg", path=env["PATH"])
    print(f"chain venv {args.venv}: {versions}; ffmpeg {ffmpeg}")
    if args.json:
        args.json.write_text(json.dumps({"steps": [asdict(s) for s in steps],
                                         "total_s": total, "result": "FAIL" if failed else
                                         "PASS", "versions": versions, "ffmpeg": ffmpeg},
                                        indent=2))
    if not args.keep and args.workdir is None and not failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
