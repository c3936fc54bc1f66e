"""``moseq2_extract.helpers.wrappers``: one call per command of the original (spec 6.3)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np

from ..batch.aggregate import aggregate_results
from ..batch.index import (
    copy_h5_metadata_to_yaml,
    generate_index,
    index_from_aggregate,
)
from ..errors import FlipClassifierError
from ..heading.download import FLIP_CLASSIFIERS, download_flip_file
from ..io.convert import convert_to_avi, copy_frames
from .data import config_from_dict

logger = logging.getLogger(__name__)

__all__ = [
    "FLIP_CLASSIFIERS",
    "aggregate_extract_results_wrapper",
    "convert_raw_to_avi_wrapper",
    "copy_h5_metadata_to_yaml_wrapper",
    "copy_slice_wrapper",
    "extract_wrapper",
    "flip_file_wrapper",
    "generate_index_from_agg_res_wrapper",
    "generate_index_wrapper",
    "get_roi_wrapper",
    "validate_flip_classifier",
]


def copy_h5_metadata_to_yaml_wrapper(input_dir: str | os.PathLike,
                                     h5_metadata_path: str = "/metadata/acquisition") -> None:
    """Copy the h5 group ``h5_metadata_path`` into the ``metadata`` of every complete,
    non-skipped status yaml under ``input_dir`` (each rewritten atomically in place)."""
    copy_h5_metadata_to_yaml(input_dir, h5_metadata_path)


def generate_index_wrapper(input_dir: str | os.PathLike, output_file: str | os.PathLike
                           ) -> str:
    """Index every complete extraction under ``input_dir``; returns ``output_file``."""
    generate_index(input_dir, output_file)
    return str(output_file)


def aggregate_extract_results_wrapper(input_dir: str | os.PathLike, format: str,
                                      output_dir: str | os.PathLike,
                                      mouse_threshold: float = 0.0) -> str:
    """Aggregate finished extractions into ``output_dir`` (spec 5.5); returns the index
    path ``<input_dir>/moseq2-index.yaml`` (the original's place, which moseq2-app
    expects; the command line puts it beside the aggregate folder)."""
    return str(aggregate_results(input_dir, format=format, output_dir=output_dir,
                                 mouse_threshold=mouse_threshold,
                                 index_file=os.path.join(input_dir, "moseq2-index.yaml")))


def generate_index_from_agg_res_wrapper(input_dir: str | os.PathLike) -> None:
    """``agg-to-index``: write ``<parent of input_dir>/moseq2-index.yaml``."""
    index_from_aggregate(input_dir)


def get_roi_wrapper(input_file: str | os.PathLike, config_data: MutableMapping[str, Any],
                    output_dir: str | os.PathLike | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background, floor and ROI of one recording, with the proc/ images written.

    ``config_data`` is updated (as the original does) with ``output_dir`` (the resolved
    folder), ``finfo`` (file, dims, fps, nframes), the effective ``bg_roi_depth_range``,
    ``true_depth`` and the camera preset's ``pixel_format`` / ``movie_dtype``.

    Returns
    -------
    (roi, bground_im, first_frame)
        ``(H, W)`` bool, ``(H, W)`` float32 mm, ``(1, H, W)`` uint16.
    """
    from ..camera import detect_camera
    from ..io.session import load_session
    from ..paths import resolve_output_dir
    from ..pipeline.plan import session_workers
    from ..roi.session import find_session_roi

    config = config_from_dict(config_data)
    session = load_session(input_file, mapping=config.mapping, fps=config.fps)
    camera = detect_camera(input_file, config.camera_type,
                           (session.info.width, session.info.height))
    out = resolve_output_dir(input_file, output_dir if output_dir is not None
                             else config_data.get("output_dir"))
    with session.open_reader(threads=config.threads) as reader:
        arena = find_session_roi(reader, config, out, camera=camera, nframes=session.nframes,
                                 threads=session_workers(config))
    info = session.info
    config_data.update({
        "output_dir": str(out),
        "finfo": {"file": str(info.path), "dims": [info.width, info.height],
                  "fps": float(info.fps), "nframes": int(session.nframes)},
        "bg_roi_depth_range": [float(v) for v in arena.depth_range],
        "true_depth": float(arena.true_depth),
        "pixel_format": camera.pixel_format,
        "movie_dtype": camera.movie_dtype,
    })
    return arena.roi, arena.background, arena.first_frame[None]


def validate_flip_classifier(config_data: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` when the configured flip classifier was trained for another
    crop size; return silently when no classifier is set, or it is missing / unloadable
    (the extraction reports those)."""
    from ..heading.classifier import load_flip_classifier

    path = config_data.get("flip_classifier")
    if not path or not Path(path).is_file():
        return
    try:
        clf = load_flip_classifier(path)
    except FlipClassifierError:
        return
    crop = config_data.get("crop_size", (80, 80))
    n_features = int(getattr(clf, "n_features_", getattr(clf, "n_features_in_", 0)) or 0)
    if n_features and n_features != int(crop[0]) * int(crop[1]):
        raise FlipClassifierError(
            f"{path}: flip classifier expects {n_features} features but crop_size "
            f"{crop[0]}x{crop[1]} gives {int(crop[0]) * int(crop[1])}; use a classifier "
            "trained for this crop size or change crop_size")


def extract_wrapper(input_file: str | os.PathLike, output_dir: str | os.PathLike | None,
                    config_data: Mapping[str, Any], num_frames: int | None = None,
                    skip: bool = False) -> str | None:
    """Extract one recording.

    Parameters
    ----------
    input_file : path-like
    output_dir : path-like or None
        Output folder (None: ``config_data['output_dir']``, default ``proc``, next to the
        input).
    config_data : mapping
        Parameters.
    num_frames : int, optional
        Extract only the first N frames.
    skip : bool
        Do nothing when the results are already complete.

    Returns
    -------
    str or None
        The output folder, or None when skipped.

    Raises
    ------
    ExtractionError
        On bad input.
    """
    from ..pipeline.session import extract_session

    changes: dict[str, Any] = {"skip_completed": bool(skip)}
    if num_frames is not None:
        changes["num_frames"] = int(num_frames)
    config = config_from_dict(config_data, **changes)
    outcome = extract_session(input_file, config, output_dir=output_dir)
    return None if outcome.skipped else str(outcome.output_dir)


def flip_file_wrapper(config_file: str | os.PathLike, output_dir: str | os.PathLike,
                      selected_flip: int | None = None) -> str:
    """Download flip classifier ``selected_flip`` (index into :data:`FLIP_CLASSIFIERS`;
    None asks on standard input) into ``output_dir`` and set ``flip_classifier`` in
    ``config_file`` (a config that cannot be updated is only logged, as in the original).

    Returns
    -------
    str
        The downloaded file.

    Raises
    ------
    ConfigError
        On an invalid selection.
    FlipDownloadError
        When the download fails (nothing is left behind).
    """
    return str(download_flip_file(config_file, output_dir, selected_flip))


def convert_raw_to_avi_wrapper(input_file: str | os.PathLike,
                               output_file: str | os.PathLike | None = None,
                               chunk_size: int = 3000, fps: float = 30.0, delete: bool = False,
                               threads: int = 8, mapping: str | int = "DEPTH") -> str:
    """Losslessly compress a recording to FFV1 ``.avi``, verified frame by frame before
    anything is renamed or (with ``delete``) removed; returns the output path."""
    return str(convert_to_avi(input_file, output_file, chunk_size=chunk_size, fps=fps,
                              delete=delete, threads=threads, mapping=mapping))


def copy_slice_wrapper(input_file: str | os.PathLike, output_file: str | os.PathLike | None,
                       copy_slice: tuple[int, int] = (0, 1000), chunk_size: int = 3000,
                       fps: float = 30.0, delete: bool = False, threads: int = 8,
                       mapping: str | int = "DEPTH") -> str:
    """Copy frames ``[copy_slice[0], copy_slice[1])`` losslessly (``.avi``: FFV1, other
    extensions: raw uint16), verified before renaming; returns the output path."""
    return str(copy_frames(input_file, output_file, frames=(int(copy_slice[0]),
                                                            int(copy_slice[1])),
                           chunk_size=chunk_size, fps=fps, threads=threads, mapping=mapping,
                           delete=delete))
