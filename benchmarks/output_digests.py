"""Digests of every output of an extraction, to prove a change leaves results unchanged.

Generates small synthetic sessions once (``.dat``, ``.avi``, ``.tar.gz``), extracts each
configuration with the ``moseq2-extract`` of a given source tree (``--src``, put first on
``PYTHONPATH``; default: the installed one), and writes one JSON file: for every h5 dataset
its dtype, shape and SHA-256 of its bytes, for every h5 attribute its value (the run's
``uuid`` and anything that names a path or a version left out), and the SHA-256 of the
preview movie and of the proc/ pictures.  ``--compare A.json B.json`` prints what differs.

Examples::

    git worktree add /tmp/before <old commit>
    python benchmarks/output_digests.py --src /tmp/before/src -o before.json
    python benchmarks/output_digests.py -o after.json
    python benchmarks/output_digests.py --compare before.json after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fresh_run_dir, make_session  # noqa: E402

# name -> (session format, extra CLI options)
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "dat": ("dat", []),
    "avi": ("avi", []),
    "tar.gz": ("tar.gz", []),
    "chunk100": ("dat", ["--chunk-size", "100"]),
    "temporal": ("dat", ["--temporal-filter-size", "3"]),
    "spatial5-cable": ("dat", ["--spatial-filter-size", "5", "--cable-filter-iters", "1"]),
    "raw-scalars-trim": ("dat", ["--compute-raw-scalars", "--frame-trim", "30", "20"]),
    "workers1": ("dat", ["--workers", "1"]),
    "uint16": ("dat", ["--frame-dtype", "uint16"]),
}
# attributes that differ between two runs of the same code, or between two checkouts
VOLATILE_ATTRS = {"uuid", "extract_version", "moseq2_extract_version", "input_file",
                  "implementation_version"}
VOLATILE_KEYS = {"uuid", "input_file", "output_dir", "config_file"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _attr_value(value) -> object:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape),
                "sha256": _sha(np.ascontiguousarray(value).tobytes())}
    if isinstance(value, np.generic):
        return value.item()
    return value


def h5_digest(path: Path) -> dict:
    """Dataset digests and attributes of every object in ``path``."""
    import h5py

    out: dict[str, object] = {}

    def visit(name: str, obj) -> None:
        attrs = {k: _attr_value(v) for k, v in obj.attrs.items() if k not in VOLATILE_ATTRS}
        entry: dict[str, object] = {"attrs": attrs}
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            if name.split("/")[-1] in VOLATILE_KEYS:
                data = b""
            arr = np.asarray(data)
            shape = None if obj.shape is None else list(obj.shape)
            entry.update(dtype=str(obj.dtype), shape=shape,
                         sha256=_sha(np.ascontiguousarray(arr).tobytes()
                                     if arr.dtype != object else repr(arr.tolist()).encode()))
        out[name] = entry

    with h5py.File(path, "r") as f:
        out["/"] = {"attrs": {k: _attr_value(v) for k, v in f.attrs.items()
                              if k not in VOLATILE_ATTRS}}
        f.visititems(visit)
    return out


def run_config(name: str, depth: Path, options: list[str], work: Path, src: Path | None
               ) -> dict:
    target = fresh_run_dir(depth, work / "runs" / name)
    run_dir = target.parent
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "moseq2_extract.cli", "extract", str(target), *options]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: extract failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    proc_dirs = sorted(run_dir.rglob("results_00.h5"))
    if not proc_dirs:
        raise SystemExit(f"{name}: no results_00.h5 under {run_dir}")
    out_dir = proc_dirs[0].parent
    entry: dict[str, object] = {"h5": h5_digest(out_dir / "results_00.h5")}
    for p in sorted(out_dir.iterdir()):
        if p.suffix in (".mp4", ".tiff", ".png"):
            entry[p.name] = _sha(p.read_bytes())
    shutil.rmtree(run_dir)
    return entry


def compare(a_path: Path, b_path: Path) -> int:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    bad = 0
    for cfg in sorted(set(a) | set(b)):
        if cfg not in a or cfg not in b:
            print(f"{cfg}: only in {'the first' if cfg in a else 'the second'}")
            bad += 1
            continue
        diffs = []
        for key in sorted(set(a[cfg]) | set(b[cfg])):
            if key == "h5":
                ha, hb = a[cfg]["h5"], b[cfg].get("h5", {})
                for obj in sorted(set(ha) | set(hb)):
                    if ha.get(obj) != hb.get(obj):
                        diffs.append(f"h5:{obj}")
            elif a[cfg].get(key) != b[cfg].get(key):
                diffs.append(key)
        if diffs:
            bad += 1
            print(f"{cfg}: DIFFERENT: {', '.join(diffs)}")
        else:
            n = len(a[cfg]["h5"])
            print(f"{cfg}: identical ({n} h5 objects, "
                  f"{', '.join(k for k in a[cfg] if k != 'h5')})")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, help="source tree (its src/ folder) to run")
    ap.add_argument("-o", "--output", type=Path, default=Path("output_digests.json"))
    ap.add_argument("--work", type=Path, default=Path("bench_out/digests"))
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"comma-separated subset of {', '.join(CONFIGS)}")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    work = args.work.resolve()
    src = args.src.resolve() if args.src else None
    digests = {}
    for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
        fmt, options = CONFIGS[name]
        depth = make_session(work / f"session_{fmt}", args.frames, fmt)
        print(f"{name} ...", file=sys.stderr)
        digests[name] = run_config(name, depth, options, work, src)
    args.output.write_text(json.dumps(digests, indent=1, sort_keys=True))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
