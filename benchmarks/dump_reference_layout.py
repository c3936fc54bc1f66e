"""Run the REFERENCE moseq2-extract 1.4.0 and record the layout of what it writes.

Produces ``tests/data/reference_layout.json`` (the compatibility tests' source of truth for
file layouts) and ``tests/data/reference_config.yaml`` (the reference's ``generate-config``
output). Needs the reference venv (``benchmarks/setup_reference.sh``) and, in this
interpreter, h5py, tifffile, PyAV and PyYAML.

Usage::

    python benchmarks/dump_reference_layout.py [--session DIR] [--ref-venv /opt/moseq2-ref]

Without ``--session`` a 900-frame Kinect session is generated with
``moseq2_extract.synthetic``. The session folder is never written to: it is linked into a
scratch folder first.

Everything recorded is a property of the file formats, independent of the session's content,
except where a key name says otherwise (``*_session_dependent``). Frame counts in shapes are
replaced by the string ``"n"``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]

# Extra metadata.json keys covering every JSON value type, for the acquisition-group mapping.
TYPE_PROBE_METADATA: dict[str, Any] = {
    "ProbeBool": True,
    "ProbeFloat": 2.5,
    "ProbeFloatList": [0.5, 1.5],
    "ProbeInt": 3,
    "ProbeIntList": [1, 2, 3],
    "ProbeNull": None,
    "ProbeStr": "abc",
    "ProbeStrList": ["a", "bc"],
}


def run_ref(ref_bin: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run one reference CLI command; raise with its stderr tail if it fails."""
    env = dict(os.environ, PATH=f"{ref_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [str(ref_bin / "moseq2-extract"), *args],
        cwd=cwd, env=env, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"reference {args[0]} failed (rc {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return proc


def link_session(src: Path, dst: Path, metadata: dict | None = None) -> Path:
    """Make ``dst`` a copy of session ``src`` (depth file symlinked); return the depth path."""
    dst.mkdir(parents=True)
    depth = None
    for p in sorted(src.iterdir()):
        if p.is_dir():
            continue
        if p.name.startswith("depth.") and p.suffix in (".dat", ".avi", ".mkv"):
            (dst / p.name).symlink_to(p.resolve())
            depth = dst / p.name
        elif p.name == "metadata.json" and metadata is not None:
            (dst / p.name).write_text(json.dumps(metadata))
        else:
            shutil.copy2(p, dst / p.name)
    if depth is None:
        raise FileNotFoundError(f"{src}: no depth.dat/.avi/.mkv in session folder")
    return depth


def jsonable(value: Any) -> Any:
    """Convert h5py/numpy attribute and dataset values into JSON values."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()] if value.ndim else jsonable(value[()])
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, h5py.Empty):
        return None
    return value


def describe_dtype(dt: np.dtype) -> dict[str, Any]:
    """The numpy dtype string plus HDF5 string details (vlen / fixed, encoding)."""
    out: dict[str, Any] = {"dtype": dt.str}
    sinfo = h5py.check_string_dtype(dt)
    if sinfo is not None:
        out["string"] = {"encoding": sinfo.encoding, "length": sinfo.length}
    return out


def shape_n(shape: tuple | None, n: int) -> Any:
    """Replace the frame count in a shape by ``"n"``; ``None`` (null dataspace) stays."""
    if shape is None:
        return None
    return [("n" if d == n else d) for d in shape]


def dump_h5(path: Path, n: int, *, value_prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Every group and dataset of ``path`` with dtype, shape, compression and attributes.

    Dataset values are included for paths starting with one of ``value_prefixes``.
    """
    entries: dict[str, dict[str, Any]] = {}

    def attrs_of(obj: h5py.HLObject) -> dict[str, Any]:
        return {k: jsonable(obj.attrs[k]) for k in sorted(obj.attrs)}

    with h5py.File(path, "r") as f:
        entries["/"] = {"kind": "group", "attrs": attrs_of(f)}

        def visit(name: str, obj: h5py.HLObject) -> None:
            key = "/" + name
            if isinstance(obj, h5py.Group):
                entries[key] = {"kind": "group", "attrs": attrs_of(obj)}
                return
            space_null = obj.id.get_space().get_simple_extent_type() == h5py.h5s.NULL
            e: dict[str, Any] = {
                "kind": "dataset",
                **describe_dtype(obj.dtype),
                "shape": None if space_null else shape_n(obj.shape, n),
                "null_dataspace": bool(space_null),
                "compression": obj.compression,
                "compression_opts": obj.compression_opts,
                "shuffle": bool(obj.shuffle),
                "chunked": obj.chunks is not None,
                "attrs": attrs_of(obj),
            }
            if key.startswith(value_prefixes) and not space_null:
                e["value"] = jsonable(obj[()])
            entries[key] = e

        f.visititems(visit)
    return {k: entries[k] for k in sorted(entries)}


def dump_tiff(path: Path) -> dict[str, Any]:
    """Shape, dtype, page count, compression and ImageDescription of one TIFF."""
    import tifffile

    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        desc = page.tags["ImageDescription"].value if "ImageDescription" in page.tags else None
        try:
            parsed = json.loads(desc) if desc else None
        except ValueError:
            parsed = None
        arr = tf.asarray()
        return {
            "series_shape": list(tf.series[0].shape),
            "array_shape": list(arr.shape),
            "dtype": arr.dtype.str,
            "pages": len(tf.pages),
            "page_shape": list(page.shape),
            "compression": page.compression.name,
            "photometric": page.photometric.name,
            "image_description_keys": sorted(parsed) if isinstance(parsed, dict) else None,
            "image_description_session_dependent": desc,
        }


def dump_mp4(path: Path, n: int) -> dict[str, Any]:
    """Container/codec facts of the preview movie (PyAV)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        frames = sum(1 for _ in c.decode(s))
        return {
            "container": c.format.name,
            "codec": cc.name,
            "profile": cc.profile,
            "pix_fmt": cc.pix_fmt,
            "average_rate": str(s.average_rate),
            "time_base": str(s.time_base),
            "decoded_frames": "n" if frames == n else frames,
            "n_streams": len(c.streams),
            "audio_streams": len(c.streams.audio),
        }


def dump_yaml(path: Path) -> dict[str, Any]:
    """Keys of results_XX.yaml, with the (session-independent) parameter values."""
    text = path.read_text()
    doc = yaml.safe_load(text)
    params = dict(doc["parameters"])
    return {
        "top_level_keys": sorted(doc),
        "complete": doc["complete"],
        "skip": doc["skip"],
        "metadata_keys": sorted(doc["metadata"]),
        "parameters_keys": sorted(params),
        "parameters_values": {
            k: jsonable(v) for k, v in sorted(params.items()) if k != "true_depth"
        },
        "true_depth_type": type(params.get("true_depth")).__name__,
        "uuid_type": type(doc["uuid"]).__name__,
        "uuid_length": len(doc["uuid"]),
        "flow_style_lists": "bg_roi_dilate: [10, 10]" in text,
        "keys_sorted_in_file": _top_keys_in_file_order(text) == sorted(doc),
    }


def _top_keys_in_file_order(text: str) -> list[str]:
    return [ln.split(":", 1)[0] for ln in text.splitlines() if ln and not ln[0].isspace()]


def check_relations(proc: Path, depth: Path, n: int) -> dict[str, bool]:
    """Verified relations between the h5 datasets, the TIFFs and the inputs (all True)."""
    import tifffile

    with h5py.File(proc / "results_00.h5", "r") as f:
        bg = f["metadata/extraction/background"][()]
        roi = f["metadata/extraction/roi"][()]
        first = f["metadata/extraction/first_frame"][()]
        ts = f["timestamps"][()]
        uuid_h5 = f["metadata/uuid"][()]
        true_depth = float(f["metadata/extraction/true_depth"][()])
        idx = (f["metadata/extraction/first_frame_idx"][()].tolist(),
               f["metadata/extraction/last_frame_idx"][()].tolist())
    uuid_h5 = uuid_h5.decode() if isinstance(uuid_h5, bytes) else uuid_h5
    k = int(65535 / bg.max())
    desc = json.loads(tifffile.TiffFile(proc / "bground.tiff").pages[0].description)
    raw0 = np.fromfile(depth, dtype="<u2", count=424 * 512).reshape(424, 512)
    ts_txt = np.array([float(ln.split()[0]) for ln in
                       (depth.parent / "depth_ts.txt").read_text().splitlines() if ln.strip()])
    doc = yaml.safe_load((proc / "results_00.yaml").read_text())
    rows, cols = np.nonzero(roi)
    crop = int(doc["parameters"]["crop_size"][0])

    def canvas(extent: int) -> int:  # ROI box minus its last row/column, plus the crop, even
        size = extent - 1 + crop
        return size + size % 2

    import av

    with av.open(str(proc / "results_00.mp4")) as c:
        movie_hw = (c.streams.video[0].codec_context.height,
                    c.streams.video[0].codec_context.width)
    return {
        "mp4_size_is_roi_box_minus_1_plus_crop_rounded_up_to_even": movie_hw == (
            canvas(int(rows.max() - rows.min() + 1)), canvas(int(cols.max() - cols.min() + 1))),
        "bground_scale_factor_is_int_65535_over_max": desc["scale_factor"] == str(k),
        "bground_stored_is_uint16_cast_of_background_times_k": bool(np.array_equal(
            tifffile.imread(proc / "bground.tiff"), (bg * k).astype(np.uint16))),
        "roi_stored_is_mask_times_65535": bool(np.array_equal(
            tifffile.imread(proc / "roi_00.tiff"), roi.astype(np.uint16) * 65535)),
        "first_frame_tiff_is_raw_frame0_unscaled": bool(np.array_equal(
            tifffile.imread(proc / "first_frame.tiff")[0], raw0)),
        "h5_first_frame_is_raw_frame0": bool(np.array_equal(first, raw0)),
        "h5_timestamps_equal_depth_ts_column0": bool(np.array_equal(ts, ts_txt[:n])),
        "first_last_frame_idx_are_0_and_n": idx == ([0], [n]),
        "yaml_uuid_equals_h5_uuid": doc["uuid"] == uuid_h5,
        "yaml_true_depth_equals_h5_true_depth": doc["parameters"]["true_depth"] == true_depth,
    }


def make_session(workdir: Path, n_frames: int) -> Path:
    """Generate a Kinect session with moseq2_extract.synthetic (when available)."""
    from moseq2_extract.synthetic import SessionSpec, write_session  # type: ignore

    out = workdir / "generated"
    write_session(out, SessionSpec(n_frames=n_frames, camera="kinect", seed=0), fmt="dat")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--session", type=Path, help="existing session folder (default: generate)")
    ap.add_argument("--n-frames", type=int, default=900)
    ap.add_argument("--ref-venv", type=Path,
                    default=Path(os.environ.get("MOSEQ2_REF_VENV", "/opt/moseq2-ref")))
    ap.add_argument("--out", type=Path, default=REPO / "tests/data/reference_layout.json")
    ap.add_argument("--config-out", type=Path,
                    default=REPO / "tests/data/reference_config.yaml")
    ap.add_argument("--keep", type=Path, help="keep the scratch folder here")
    args = ap.parse_args(argv)

    ref_bin = args.ref_venv / "bin"
    version = run_ref(ref_bin, ["--version"], Path.cwd()).stdout.strip()

    tmp = Path(tempfile.mkdtemp(prefix="refdump-")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        src = args.session if args.session else make_session(tmp, args.n_frames)
        src_meta = json.loads((src / "metadata.json").read_text())
        n_ts = sum(1 for ln in (src / "depth_ts.txt").read_text().splitlines() if ln.strip())

        # 1. default extraction
        depth = link_session(src, tmp / "extract")
        run_ref(ref_bin, ["extract", str(depth)], tmp)
        proc = depth.parent / "proc"
        with h5py.File(proc / "results_00.h5", "r") as f:
            n = int(f["frames"].shape[0])
        assert n == n_ts, (n, n_ts)

        # 2. find-roi alone
        depth_roi = link_session(src, tmp / "findroi")
        run_ref(ref_bin, ["find-roi", str(depth_roi)], tmp)

        # 3. metadata type mapping (a few frames are enough)
        probe_meta = {**src_meta, **TYPE_PROBE_METADATA}
        depth_meta = link_session(src, tmp / "metaprobe", metadata=probe_meta)
        run_ref(ref_bin, ["extract", str(depth_meta), "--num-frames", "30"], tmp)
        probe_h5 = dump_h5(depth_meta.parent / "proc/results_00.h5", 30, value_prefixes=())
        acq_types = {k.removeprefix("/metadata/acquisition/"): v for k, v in probe_h5.items()
                     if k.startswith("/metadata/acquisition/")}
        for v in acq_types.values():
            v.pop("attrs", None)

        # 4. generate-config
        cfg = tmp / "config.yaml"
        run_ref(ref_bin, ["generate-config", "-o", str(cfg)], tmp)

        layout = {
            "reference_version": version.rsplit(" ", 1)[-1],
            "session": {
                "camera": "kinect",
                "format": depth.suffix.lstrip("."),
                "n_frames_symbol": "n",
                "metadata_json_keys": sorted(src_meta),
            },
            "extract": {
                "command": "moseq2-extract extract <session>/depth.dat",
                "proc_files": sorted(p.name for p in proc.iterdir()),
                "results_h5": dump_h5(
                    proc / "results_00.h5", n,
                    value_prefixes=("/metadata/extraction/parameters/",
                                    "/metadata/extraction/extract_version"),
                ),
                "results_yaml": dump_yaml(proc / "results_00.yaml"),
                "tiffs": {p.name: dump_tiff(p) for p in sorted(proc.glob("*.tiff"))},
                "results_mp4": dump_mp4(proc / "results_00.mp4", n),
                "relations": check_relations(proc, depth, n),
            },
            "find_roi": {
                "command": "moseq2-extract find-roi <session>/depth.dat",
                "proc_files": sorted(p.name for p in (depth_roi.parent / "proc").iterdir()),
            },
            "acquisition_metadata_types": {
                "metadata_json": {k: probe_meta[k] for k in sorted(TYPE_PROBE_METADATA)},
                "datasets": {k: acq_types[k] for k in sorted(acq_types)},
            },
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(layout, indent=1, sort_keys=True) + "\n")
        args.config_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cfg, args.config_out)
        print(f"wrote {args.out} and {args.config_out} ({version}, n={n})")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
