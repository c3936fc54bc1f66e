"""Every function of spec 6.5 at its documented module path with the documented parameter
names (in order) and defaults, and every name moseq2-app imports from moseq2_extract."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

# module -> function -> documented parameters, in order ("name" or ("name", default));
# "**" = the function takes **kwargs.  From spec 6.5 (and 6.4's import list).
SURFACE = {
    "moseq2_extract.extract.extract": {
        "extract_chunk": [
            "chunk", ("use_tracking_model", False), ("spatial_filter_size", (3,)),
            ("temporal_filter_size", None), ("tail_filter_iters", 1), ("iters_min", 0),
            "strel_tail", "strel_min", ("min_height", 10), ("max_height", 100),
            ("mask_threshold", -20), ("use_cc", False), ("bground", None), ("roi", None),
            ("rho_mean", 0), ("rho_cov", 0), ("tracking_ll_threshold", -100),
            ("tracking_model_segment", True), ("tracking_init_mean", None),
            ("tracking_init_cov", None), "tracking_init_strel", ("flip_classifier", None),
            ("flip_classifier_smoothing", 51), ("frame_dtype", "uint8"),
            ("progress_bar", True), ("crop_size", (80, 80)), ("true_depth", 673.1),
            ("centroid_hampel_span", 5), ("centroid_hampel_sig", 3),
            ("angle_hampel_span", 5), ("angle_hampel_sig", 3),
            ("model_smoothing_clips", (-300, -150)), ("tracking_model_init", "raw"),
            ("compute_raw_scalars", False), "**"],
    },
    "moseq2_extract.extract.proc": {
        "get_roi": [
            "depth_image", "strel_dilate", ("dilate_iterations", 0), ("erode_iterations", 0),
            ("strel_erode", None), ("noise_tolerance", 30), ("bg_roi_weights", (1, 0.1, 1)),
            ("overlap_roi", None), ("bg_roi_gradient_filter", False),
            ("bg_roi_gradient_kernel", 7), ("bg_roi_gradient_threshold", 3000),
            ("bg_roi_fill_holes", True), ("get_all_data", False), "**"],
        "get_bground_im_file": ["frames_file", ("frame_stride", 500), ("med_scale", 5),
                                ("output_dir", None), "**"],
        "apply_roi": ["frames", "roi"],
        "get_bbox": ["roi"],
        "threshold_chunk": ["chunk", "min_height", "max_height"],
        "clean_frames": ["frames", ("prefilter_space", (3,)), ("prefilter_time", None),
                         "strel_tail", ("iters_tail", None), ("frame_dtype", "uint8"),
                         "strel_min", ("iters_min", None), ("progress_bar", False)],
        "get_frame_features": ["frames", ("frame_threshold", 10), "mask",
                               ("mask_threshold", -30), ("use_cc", False),
                               ("progress_bar", False)],
        "get_largest_cc": ["frames", ("progress_bar", False)],
        "im_moment_features": ["IM"],
        "crop_and_rotate_frames": ["frames", "features", ("crop_size", (80, 80)),
                                   ("progress_bar", False)],
        "compute_scalars": ["frames", "track_features", ("min_height", 10),
                            ("max_height", 100), ("true_depth", 673.1)],
        "feature_hampel_filter": ["features"],
        "get_flips": ["frames", ("flip_file", None), ("smoothing", None)],
    },
    "moseq2_extract.extract.roi": {
        "plane_ransac": ["depth_image", ("bg_roi_depth_range", (650, 750)), ("iters", 1000),
                         ("noise_tolerance", 30), ("in_ratio", 0.1), ("progress_bar", False),
                         ("mask", None), "**"],
        "plane_fit3": ["points"],
    },
    "moseq2_extract.extract.flip_classifier": {"load_flip_classifier": ["path"]},
    "moseq2_extract.io.video": {
        "get_raw_info": ["filename"],
        "read_frames_raw": ["filename", ("frames", None), ("frame_size", (512, 424)),
                            ("bit_depth", 16), ("movie_dtype", "<u2"), "**"],
        "get_video_info": ["filename"],
        "get_stream_names": ["filename"],
        "read_frames": ["filename", "frames"],
        "read_mkv": ["filename", "frames"],
        "load_movie_data": ["filename", ("frames", None), ("frame_size", (512, 424)),
                            ("bit_depth", 16), "**"],
        "get_movie_info": ["filename"],
        "load_timestamps_from_movie": ["input_file"],
        "write_frames": ["filename", "frames"],
        "write_frames_preview": ["filename", "frames"],
    },
    "moseq2_extract.io.image": {
        "write_image": ["filename", "image", ("scale", True), ("scale_factor", None),
                        ("frame_dtype", "uint16"), ("compress", 0)],
        "read_image": ["filename", ("scale", True), ("scale_key", "scale_factor")],
        "read_tiff_files": ["input_dir"],
    },
    "moseq2_extract.util": {
        "gen_batch_sequence": ["nframes", "chunk_size", "overlap", ("offset", 0)],
        "get_frame_range_indices": ["trim_beginning", "trim_ending", "nframes"],
        "load_timestamps": ["timestamp_file", ("col", 0), ("alternate", False)],
        "load_metadata": ["metadata_file"],
        "convert_pxs_to_mm": ["coords", ("resolution", (512, 424)),
                              ("field_of_view", (70.6, 60)), ("true_depth", 673.1)],
        "scalar_attributes": [],
        "dict_to_h5": ["h5", "dic"],
        "h5_to_dict": ["h5file"],
        "recursive_find_h5s": ["root_dir", ("ext", ".h5"), ("yaml_string", "{}.yaml")],
        "recursive_find_unextracted_dirs": ["root_dir"],
        "build_path": ["keys", "format_string", ("snake_case", True)],
        "clean_file_str": ["file_str"],
        "camel_to_snake": ["name"],
        "time_str_for_filename": ["time_str"],
        "load_textdata": ["data_file"],
        "mouse_threshold_filter": ["h5file", ("thresh", 0)],
        "strided_app": ["a", "L", "S"],
        "select_strel": ["string", "size"],
        "get_strels": ["config_data"],
        "set_bground_to_plane_fit": ["bground_im", "plane", "output_dir"],
        "detect_avi_file": ["finfo"],
        "detect_and_set_camera_parameters": ["config", "input_file"],
        "check_filter_sizes": ["config_data"],
        "click_param_annot": ["click_cmd"],
        "clean_dict": ["dictionary"],
        "read_yaml": ["yaml_file"],
        "filter_warnings": ["func"],
    },
}

ROWS = [(m, f, p) for m, funcs in SURFACE.items() for f, p in funcs.items()]


def _same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("module, name, params", ROWS,
                         ids=[f"{m.rsplit('.', 1)[-1]}.{f}" for m, f, _ in ROWS])
def test_documented_signature(module, name, params):
    func = getattr(importlib.import_module(module), name)
    sig = inspect.signature(func)
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p if isinstance(p, str) else p[0] for p in params if p != "**"]
    assert [p.name for p in positional[:len(names)]] == names
    for p in params:
        if isinstance(p, tuple):
            assert _same(sig.parameters[p[0]].default, p[1]), (p, sig.parameters[p[0]])
    if "**" in params:
        assert any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def test_default_structuring_elements():
    from moseq2_extract.extract import extract, proc

    sig = inspect.signature(extract.extract_chunk)
    assert sig.parameters["strel_tail"].default.shape == (9, 9)
    assert sig.parameters["strel_min"].default.shape == (5, 5)
    assert sig.parameters["strel_min"].default.all()
    assert inspect.signature(proc.get_roi).parameters["strel_dilate"].default.shape == (15, 15)
    assert inspect.signature(proc.clean_frames).parameters["strel_tail"].default.shape == (7, 7)
    assert np.asarray(inspect.signature(proc.get_frame_features).parameters["mask"]
                      .default).size == 0


# What moseq2-app (github dattalab/moseq2-app, commit dfdf982) imports from
# moseq2_extract: 23 names in moseq2_app/ and notebooks/, 3 more in its tests/.
MOSEQ2_APP_IMPORTS = {
    "moseq2_extract.extract.extract": ["extract_chunk"],
    "moseq2_extract.extract.proc": ["apply_roi", "clean_frames", "get_bground_im_file",
                                    "get_flips", "get_roi", "threshold_chunk"],
    "moseq2_extract.gui": ["aggregate_extract_results_command", "download_flip_command",
                           "extract_found_sessions", "generate_config_command",
                           "get_selected_sessions"],
    "moseq2_extract.helpers.data": ["check_completion_status"],
    "moseq2_extract.helpers.wrappers": ["extract_wrapper"],
    "moseq2_extract.io.video": ["get_video_info", "load_movie_data", "write_frames_preview",
                                "load_timestamps_from_movie", "read_frames"],
    "moseq2_extract.util": ["check_filter_sizes", "detect_and_set_camera_parameters",
                            "filter_warnings", "gen_batch_sequence", "get_strels",
                            "read_yaml", "select_strel"],
}


def test_moseq2_app_imports_resolve():
    assert sum(len(v) for v in MOSEQ2_APP_IMPORTS.values()) == 26
    for module, names in MOSEQ2_APP_IMPORTS.items():
        mod = importlib.import_module(module)
        assert [n for n in names if not callable(getattr(mod, n, None))] == []


def _imports_of(root: Path) -> set[tuple[str, str]]:
    found = set()
    for path in root.rglob("*.py"):
        with warnings.catch_warnings():  # Python 3.7-era escapes in its strings
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "moseq2_extract"):
                found.update((node.module, a.name) for a in node.names)
    return found


@pytest.mark.skipif(not os.environ.get("MOSEQ2_APP_DIR"),
                    reason="set MOSEQ2_APP_DIR to a moseq2-app checkout")
def test_a_moseq2_app_checkout_imports_resolve():
    root = Path(os.environ["MOSEQ2_APP_DIR"])
    missing = []
    for module, name in sorted(_imports_of(root)):
        if not hasattr(importlib.import_module(module), name):
            missing.append(f"{module}.{name}")
    assert missing == []
