"""Every documented import path of the original (spec 6) resolves to a callable here, and
the command-line entry point is the one pyproject declares."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import tomllib

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "moseq2-extract-reference.md"

# spec 6.1-6.4 and the lower-level names this package provides (spec 6.5)
DOCUMENTED = {
    "moseq2_extract.helpers.data": [
        "check_completion_status", "build_index_dict", "load_extraction_meta_from_h5s",
        "build_manifest", "copy_manifest_results", "handle_extract_metadata",
        "create_extract_h5"],
    "moseq2_extract.helpers.extract": [
        "write_extracted_chunk_to_h5", "set_tracking_model_parameters",
        "make_output_movie", "process_extract_batches", "run_local_extract",
        "run_slurm_extract"],
    "moseq2_extract.helpers.wrappers": [
        "copy_h5_metadata_to_yaml_wrapper", "generate_index_wrapper",
        "aggregate_extract_results_wrapper", "generate_index_from_agg_res_wrapper",
        "get_roi_wrapper", "validate_flip_classifier", "extract_wrapper", "flip_file_wrapper",
        "convert_raw_to_avi_wrapper", "copy_slice_wrapper"],
    "moseq2_extract.gui": [
        "generate_config_command", "download_flip_command", "extract_found_sessions",
        "extract_command", "find_roi_command", "generate_index_command",
        "aggregate_extract_results_command", "get_selected_sessions"],
    "moseq2_extract.extract.flip_classifier": ["load_flip_classifier"],
    "moseq2_extract.extract.track": ["em_tracking", "em_get_ll", "em_init", "em_iter"],
    "moseq2_extract.io.image": ["write_image", "read_image"],
}


@pytest.mark.parametrize("module, names", DOCUMENTED.items())
def test_documented_names_import(module, names):
    mod = importlib.import_module(module)
    missing = [n for n in names if not callable(getattr(mod, n, None))]
    assert not missing, f"{module} lacks {missing}"


@pytest.mark.skipif(not SPEC.is_file(), reason="spec not checked out beside the project")
def test_every_helper_named_in_the_spec_is_listed():
    text = SPEC.read_text()
    for section, module in (("6.1", "moseq2_extract.helpers.data"),
                            ("6.2", "moseq2_extract.helpers.extract"),
                            ("6.3", "moseq2_extract.helpers.wrappers"),
                            ("6.4", "moseq2_extract.gui")):
        body = text.split(f"### {section} ", 1)[1].split("\n### ", 1)[0]
        named = set(re.findall(r"^\| `([a-z_0-9]+)", body, flags=re.M))
        assert named <= set(DOCUMENTED[module]), (module, named - set(DOCUMENTED[module]))


def test_console_script_is_the_click_group():
    pyproject = tomllib.loads(
        (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    target = pyproject["project"]["scripts"]["moseq2-extract"]
    module, attr = target.split(":")
    assert (module, attr) == ("moseq2_extract.cli", "cli")
    import click

    assert isinstance(getattr(importlib.import_module(module), attr), click.Group)
