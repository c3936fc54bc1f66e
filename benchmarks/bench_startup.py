"""Where one ``extract`` run's fixed costs go: a timeline of its phases, and its imports.

Runs the real command line (``moseq2-extract extract SESSION``, default options) in a child
process whose functions of the interesting phases are wrapped with timestamps, and prints
each phase's start (seconds from the moment the child was launched) and duration::

    python benchmarks/bench_startup.py --frames 1800 --repeats 3
    python benchmarks/bench_startup.py --importtime        # + imports by package
    python benchmarks/bench_startup.py --src /tmp/before/src --src src   # alternated
    python benchmarks/bench_startup.py --bytecode remove   # modules compiled every run

The phases before the first block (interpreter start, imports, the CLI, opening the
session, background, floor plane, ROI, starting the workers) are the session's fixed
cost: a batch pays them once per session.  ``--importtime`` runs the same command under
``python -X importtime`` and sums the modules' own import time per top-level package.

Medians over ``--repeats`` runs are printed; each run has a fresh ``proc/``.  The CPU
column (the time of the thread that ran the phase) is the robust figure on a busy
machine; wall time there mostly measures the other processes.  Not part of the test
suite; on a shared machine the figures are indicative (the load is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAN = float("nan")

# (module, attribute, phase name): functions wrapped in the child.  A name is looked up
# where the caller finds it (the module that calls it), so each entry names that module.
HOOKS = [
    ("moseq2_extract.pipeline.session", "load_flip_model", "heading model"),
    ("moseq2_extract.pipeline.session", "plan_session", "open session (metadata, timestamps)"),
    ("moseq2_extract.pipeline.session", "_write_status", "status yaml"),
    ("moseq2_extract.pipeline.session", "find_session_roi", "background + floor + ROI"),
    ("moseq2_extract.roi.session", "compute_background", "  background (sampled frames)"),
    ("moseq2_extract.roi.session", "_stored", "  bground.tiff write + read back"),
    ("moseq2_extract.roi.session", "auto_depth_range", "  depth range"),
    ("moseq2_extract.roi.roi", "fit_plane_ransac", "  floor plane RANSAC"),
    ("moseq2_extract.roi.session", "find_rois", "  ROI (plane + regions + morphology)"),
    ("moseq2_extract.roi.session", "true_depth_of", "  true depth"),
    ("moseq2_extract.pipeline.session", "_assembler", "sequence assembler"),
    ("moseq2_extract.pipeline.session", "stream_blocks", "blocks (extraction + outputs)"),
    ("moseq2_extract.pipeline.outputs", "SessionOutputs.open", "  open output files (writer)"),
    ("moseq2_extract.pipeline.outputs", "SessionOutputs.finish", "finish outputs (movie, h5)"),
    ("moseq2_extract.cli.main", "after_extraction", "report"),
]


# What batch-extract has imported when it forks a session process (batch/runners.py:
# _warm_imports; a Dask worker of older trees has them after its first session).
BATCH_IMPORTS = ("moseq2_extract.pipeline.session", "moseq2_extract.output.h5writer",
                 "moseq2_extract.output.movie", "tifffile", "numpy.random")


# ------------------------------------------------------------------------------------------
# child: run the CLI with timestamps
# ------------------------------------------------------------------------------------------
def child(argv: list[str]) -> None:
    marks: list[tuple[str, float, float, float]] = []
    t_start, c_start = time.time(), time.process_time()
    marks.append(("interpreter start (to this script)", 0.0, t_start, c_start))
    as_batch = "--as-batch-session" in argv
    argv = [a for a in argv if a != "--as-batch-session"]
    import moseq2_extract.cli.main as climain

    marks.append(("import the CLI", t_start, time.time(), time.thread_time() - c_start))
    if as_batch:  # what batch-extract imports before it forks its session processes
        t0, c0 = time.time(), time.thread_time()
        for name in BATCH_IMPORTS:
            __import__(name)
        marks.append(("batch imports (paid once per batch)", t0, time.time(),
                      time.thread_time() - c0))
    import contextlib
    import functools
    import importlib

    def wrap(module_name: str, attr: str, label: str) -> None:
        module = importlib.import_module(module_name)
        owner, name = module, attr
        if "." in attr:
            cls_name, name = attr.split(".")
            owner = getattr(module, cls_name)
        func = getattr(owner, name)
        raw = func.__func__ if isinstance(func, classmethod | staticmethod) else func
        if isinstance(owner.__dict__.get(name), classmethod):
            raw = owner.__dict__[name].__func__

        @functools.wraps(raw)
        def timed(*args, **kwargs):
            t0, c0 = time.time(), time.thread_time()
            try:
                return raw(*args, **kwargs)
            finally:
                marks.append((label, t0, time.time(), time.thread_time() - c0))

        if isinstance(owner.__dict__.get(name), classmethod):
            setattr(owner, name, classmethod(timed))
        else:
            setattr(owner, name, timed)

    t_hooks, c_hooks = time.time(), time.thread_time()
    for module_name, attr, label in HOOKS:
        with contextlib.suppress(ImportError, AttributeError):
            wrap(module_name, attr, label)
    session_mod = importlib.import_module("moseq2_extract.pipeline.session")

    raw_open = session_mod.open_workers

    @contextlib.contextmanager
    def open_workers(count, extractor):
        t0, c0 = time.time(), time.thread_time()
        with raw_open(count, extractor) as w:
            marks.append((f"start {count} worker(s)", t0, time.time(),
                          time.thread_time() - c0))
            yield w
        marks.append(("stop workers", t0, time.time(), NAN))

    session_mod.open_workers = open_workers
    # the import thread: _preload_for_workers, or _preload_outputs in trees before 2026-12-06
    preload_name = next((n for n in ("_preload_for_workers", "_preload_outputs")
                         if hasattr(session_mod, n)), None)
    raw_preload = getattr(session_mod, preload_name) if preload_name else None

    def preload():
        assert raw_preload is not None
        thread = raw_preload()
        join = thread.join

        def timed_join(*a, **k):
            t0 = time.time()
            join(*a, **k)
            marks.append(("wait for the import thread", t0, time.time(), NAN))

        thread.join = timed_join
        return thread

    if preload_name is not None:
        setattr(session_mod, preload_name, preload)
    raw_extract = session_mod.extract_session

    def extract_session(*args, progress=None, **kwargs):
        t0 = time.time()
        seen: list[float] = []

        def tick(done, total):
            if not seen:
                marks.append(("first block written", t0, time.time(), NAN))
            seen.append(time.time())
            if progress is not None:
                progress(done, total)

        try:
            return raw_extract(*args, progress=tick, **kwargs)
        finally:
            if seen:
                marks.append(("last block written", t0, seen[-1], NAN))
            marks.append(("extract_session", t0, time.time(), NAN))

    session_mod.extract_session = extract_session
    marks.append(("import the pipeline (to wrap it)", t_hooks, time.time(),
                  time.thread_time() - c_hooks))
    try:
        climain.cli.main(["extract", *argv], standalone_mode=False)
    finally:
        marks.append(("CLI done", t_start, time.time(), NAN))
        print("MARKS " + json.dumps(marks), flush=True)


# ------------------------------------------------------------------------------------------
# parent
# ------------------------------------------------------------------------------------------
def run_once(depth: Path, run_root: Path, env: dict[str, str], extra: list[str]
             ) -> tuple[float, list[tuple[str, float, float, float]]]:
    sys.path.insert(0, str(HERE))
    from _common import fresh_run_dir

    target = fresh_run_dir(depth, run_root)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(target), *extra]
    t_launch = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.time() - t_launch
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("MARKS "))
    marks = [(name, max(a - t_launch, 0.0), b - t_launch, cpu)
             for name, a, b, cpu in json.loads(line[6:])]
    return wall, marks


def import_profile(depth: Path, run_root: Path, env: dict[str, str], top: int) -> None:
    sys.path.insert(0, str(HERE))
    from _common import fresh_run_dir

    target = fresh_run_dir(depth, run_root)
    cmd = [sys.executable, "-X", "importtime", "-m", "moseq2_extract.cli", "extract",
           str(target)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    own: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for ln in proc.stderr.splitlines():
        if not ln.startswith("import time:") or "self [us]" in ln:
            continue
        self_us, _, name = ln[len("import time:"):].split("|")
        package = name.strip().split(".")[0]
        own[package] += float(self_us) / 1e6
        count[package] += 1
    total = sum(own.values())
    print(f"\nimports during one run (python -X importtime): {total:.2f} s of import "
          f"work in {sum(count.values())} modules (some on the import thread)")
    print(f"{'package':<24} {'seconds':>8} {'modules':>8}")
    for package, secs in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{package:<24} {secs:8.3f} {count[package]:8d}")


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else NAN


def print_timeline(runs: list[tuple[float, list[tuple[str, float, float, float]]]]) -> None:
    """Median start, wall duration and CPU time (of the thread that ran it) per phase."""
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for _, marks in runs:
        seen = set()
        for name, a, b, cpu in marks:
            if name not in seen:  # the first occurrence of a phase
                seen.add(name)
                rows[name].append((a, b, cpu))
    print(f"\n{'phase':<42} {'from s':>7} {'wall s':>7} {'cpu s':>6} {'ends at s':>9}")
    for name in sorted(rows, key=lambda n: _median([r[0] for r in rows[n]])):
        r = rows[name]
        cpu = _median([c for _, _, c in r])
        print(f"{name:<42} {_median([a for a, _, _ in r]):7.3f} "
              f"{_median([b - a for a, b, _ in r]):7.3f} "
              f"{'' if cpu != cpu else f'{cpu:.3f}':>6} {_median([b for _, b, _ in r]):9.3f}")
    print(f"{'whole command (process launch to exit)':<42} {0:7.3f} "
          f"{_median([w for w, _ in runs]):7.3f}")
    started = [next(b for n, _, b, _ in m if n.startswith("start ") and "worker" in n)
               for _, m in runs]
    opened = [next(a for n, a, _, _ in m if n.startswith("open session")) for _, m in runs]
    print(f"\nfixed cost before the blocks (launch to workers started): "
          f"{_median(started):.3f} s (median of {len(started)})")
    print(f"of which the session's own (opening it to workers started; all a session of "
          f"a batch pays with --as-batch-session): "
          f"{_median([b - a for a, b in zip(opened, started, strict=True)]):.3f} s")


def set_bytecode(env: dict[str, str], mode: str) -> None:
    """``compile``: byte-compile the package, as installing it does; ``remove``: delete its
    bytecode, so that every run compiles its modules again (what an editable checkout
    costs where ``PYTHONDONTWRITEBYTECODE`` is set); ``asis``: leave it."""
    import shutil

    sys.path.insert(0, str(HERE))
    from _common import byte_compile, package_dir

    if mode == "compile":
        byte_compile(env)
    elif mode == "remove":
        for cache in package_dir(env).rglob("__pycache__"):
            shutil.rmtree(cache)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1800, help="frames of the session")
    ap.add_argument("--fmt", default="dat", choices=["dat", "avi"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--src", type=Path, action="append", default=None,
                    help="source tree (its src/ folder) to run instead of the installed one; "
                         "give it twice to alternate two trees (e.g. before and after)")
    ap.add_argument("--bytecode", choices=["compile", "remove", "asis"], default="compile",
                    help="byte-compile the package first (default, as an installed package "
                         "is), remove its bytecode (each run compiles it), or leave it")
    ap.add_argument("--work", type=Path, default=Path("bench_out/startup"))
    ap.add_argument("--importtime", action="store_true", help="also profile the imports")
    ap.add_argument("--top", type=int, default=15, help="packages listed by --importtime")
    ap.add_argument("--no-report", action="store_true", help="pass --no-report")
    ap.add_argument("--workers", type=int, default=None,
                    help="pass --workers N (a batch session on a small machine has 1)")
    ap.add_argument("--as-batch-session", action="store_true",
                    help="import first what batch-extract imports before forking its session "
                         "processes: the phases after it are what each session of a batch pays")
    args = ap.parse_args()

    sys.path.insert(0, str(HERE))
    from _common import make_session, warm_cache

    trees: dict[str, dict[str, str]] = {}
    for src in args.src or [None]:
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = f"{src.resolve()}{os.pathsep}{env.get('PYTHONPATH', '')}"
        trees[str(src or "installed")] = env
        set_bytecode(env, args.bytecode)
    work = args.work.resolve()
    depth = make_session(work / f"session_{args.fmt}_{args.frames}", args.frames, args.fmt)
    warm_cache(depth)
    extra = (["--no-report"] if args.no_report else []) + \
        (["--as-batch-session"] if args.as_batch_session else []) + \
        (["--workers", str(args.workers)] if args.workers else [])
    runs: dict[str, list] = {name: [] for name in trees}
    for rep in range(args.repeats):
        order = list(trees) if rep % 2 == 0 else list(reversed(trees))
        for name in order:
            load = os.getloadavg()[0]
            wall, marks = run_once(depth, work / "run" / depth.parent.name, trees[name], extra)
            runs[name].append((wall, marks))
            print(f"{name}: run {rep}: {wall:.2f} s wall (load before {load:.1f})",
                  flush=True)
    for name, env in trees.items():
        print(f"\n## {name} (bytecode: {args.bytecode})")
        print_timeline(runs[name])
        if args.importtime:
            import_profile(depth, work / "run" / depth.parent.name, env, args.top)


if __name__ == "__main__":
    main()
