"""Does moseq2-app work against this package?  (Not part of CI: needs a moseq2-app checkout
and the package index.)

Makes a fresh virtual environment, installs this package and, with ``--no-deps``, the
moseq2-app checkout beside it, then the current releases of what moseq2-app imports
(moseq2-app pins Python 3.7-era versions; moseq2-pca / -model / -viz are not on PyPI and
are left out).  Then, inside that environment, imports every ``moseq2_app`` module and
runs the non-interactive functions that only need moseq2_extract on a generated session:
``moseq2_app.util.read_and_clean_config`` and the arena widget's background / ROI /
extraction steps (``ArenaMasker.get_background`` / ``compute_arena_mask`` /
``compute_extraction``, run on an object made without its notebook view).  Prints one line
per step (ok, or the exception) and writes a JSON report.

    python benchmarks/check_moseq2_app.py --app /path/to/moseq2-app --out /tmp/app-check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what moseq2_app imports, by distribution name (current releases, unpinned)
APP_DEPS = ["ipywidgets", "ipython", "bokeh", "panel", "holoviews", "param", "pandas",
            "ruamel.yaml", "seaborn", "matplotlib", "plotly", "scikit-learn", "joblib",
            "scikit-image", "tqdm", "jupyter_bokeh", "qgrid", "fastparquet", "networkx",
            "toolz"]

PROBE = r'''
import importlib, json, pkgutil, sys, traceback
from pathlib import Path
report = {"imports": {}, "calls": {}}
import moseq2_app
for m in sorted(n for _, n, _ in pkgutil.walk_packages(moseq2_app.__path__, "moseq2_app.")):
    try:
        importlib.import_module(m)
        report["imports"][m] = "ok"
    except BaseException as err:
        report["imports"][m] = f"{type(err).__name__}: {err}"

def call(name, fn):
    try:
        fn()
        report["calls"][name] = "ok"
    except BaseException as err:
        report["calls"][name] = f"{type(err).__name__}: {err}"
        traceback.print_exc()

from moseq2_extract.synthetic import SessionSpec, write_session, GroundTruth
from moseq2_extract.config import generate_config_dict
from moseq2_extract.paths import write_yaml_atomic
work = Path(sys.argv[1])
depth = write_session(work / "session_1", SessionSpec(n_frames=60, seed=1))
truth = GroundTruth.load(depth.parent / "ground_truth.npz")
config_file = work / "config.yaml"
write_yaml_atomic(config_file, generate_config_dict())

def read_config():
    from moseq2_app.util import read_and_clean_config
    cfg = read_and_clean_config(str(config_file))
    assert cfg["threads"] >= 1

def arena():
    from moseq2_app.roi.widget import ArenaMasker
    from moseq2_extract.util import detect_and_set_camera_parameters, read_yaml
    masker = ArenaMasker.__new__(ArenaMasker)
    masker.backgrounds, masker.extracts = {}, {}
    cfg = detect_and_set_camera_parameters(read_yaml(config_file), str(depth))
    d = truth.true_depth_mm
    cfg.update(bg_roi_depth_range=[d - 50, d + 50], manual_set_depth_range=True)
    masker.session_config = {"session_1": cfg}
    masker.sessions = {"session_1": str(depth)}
    class Data:  # the widget's parameter panel, with its defaults
        path = "session_1"; mask_index = 0; frames_to_extract = 30
    masker.session_data = Data()
    masker.set_session_config_vars = lambda: None
    bg = masker.get_background("session_1")
    _, rois = masker.compute_arena_mask()
    crops, frames = masker.compute_extraction()
    report["arena"] = {"background": list(bg.shape), "rois": len(rois),
                       "crops": list(crops.shape), "frames": list(frames.shape)}

call("moseq2_app.util.read_and_clean_config", read_config)
call("moseq2_app.roi.widget.ArenaMasker (background, ROI, extraction)", arena)
print(json.dumps(report, indent=1))
(work / "report.json").write_text(json.dumps(report, indent=1))
'''


def pip(env: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", *args],
                          capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", required=True, type=Path, help="moseq2-app checkout")
    parser.add_argument("--out", required=True, type=Path, help="work folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = args.out / "venv"
    if not env.exists():
        venv.create(env, with_pip=True)
    steps = {}
    steps["moseq2-extract (this checkout)"] = pip(env, str(ROOT))
    steps["moseq2-app --no-deps"] = pip(env, "--no-deps", str(args.app))
    if steps["moseq2-app --no-deps"].returncode:
        # its setup.py needs numpy==1.18.3 / pandas==1.0.5 to build (python_requires
        # <3.8): put the checkout on the path instead, as an editable install would
        site = next((env / "lib").glob("python*/site-packages"))
        (site / "moseq2_app_checkout.pth").write_text(str(args.app.resolve()) + "\n")
    for dep in APP_DEPS:
        steps[dep] = pip(env, dep)
    install = {k: "ok" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]
               for k, r in steps.items()}
    for k, v in install.items():
        print(f"install {k}: {v}")
    probe = subprocess.run([str(env / "bin" / "python"), "-c", PROBE, str(args.out)],
                           capture_output=True, text=True)
    print(probe.stdout)
    if probe.returncode:
        print(probe.stderr[-3000:], file=sys.stderr)
    (args.out / "install.json").write_text(json.dumps(install, indent=1))
    return probe.returncode


if __name__ == "__main__":
    sys.exit(main())
