"""``moseq2_extract.util``: the original's grab-bag of helpers (spec 6.5), at its module path.

Each function is a thin adapter over this package's own core with the original's name,
parameters and return shape; where the original's behaviour is a known bug (spec 7.1) the
fixed behaviour is kept and ``docs/compatibility.md`` ("Lower-level API") says so.  The
graduated-walls helpers (``get_bucket_center``, ``make_gradient``,
``graduate_dilated_wall_area``) and ``command_with_config`` are not provided: graduated
walls are not implemented here, and the CLI's config merge lives in ``cli.options``.

moseq2-app imports ``filter_warnings``, ``read_yaml``, ``check_filter_sizes``,
``select_strel``, ``get_strels``, ``detect_and_set_camera_parameters`` and
``gen_batch_sequence`` from here.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from .batch.aggregate import (
    build_path,
    camel_to_snake,
    clean_file_str,
    load_textdata,
    mouse_threshold_filter,
    time_str_for_filename,
)
from .batch.discovery import recursive_find_h5s, recursive_find_unextracted_dirs
from .camera import PRESETS, CameraModel, camera_for_frame_size, detect_camera
from .config import _plain, make_config
from .errors import InputFileError
from .io.image import write_image
from .io.metadata import load_metadata as _load_metadata
from .io.reader_base import chunk_ranges
from .io.timestamps import timestamps_from_text
from .output.h5layout import read_group, scalar_attributes, write_parameters
from .paths import read_yaml as read_yaml_file
from .pipeline.plan import frame_range
from .roi.background import plane_background
from .roi.roi import make_strel

logger = logging.getLogger(__name__)

__all__ = [
    "build_path", "camel_to_snake", "check_filter_sizes", "clean_dict", "clean_file_str",
    "click_param_annot", "convert_pxs_to_mm", "detect_and_set_camera_parameters",
    "detect_avi_file", "dict_to_h5", "filter_warnings", "gen_batch_sequence",
    "get_frame_range_indices", "get_strels", "h5_to_dict", "load_metadata",
    "load_textdata", "load_timestamps", "mouse_threshold_filter", "read_yaml",
    "recursive_find_h5s", "recursive_find_unextracted_dirs", "scalar_attributes",
    "select_strel", "set_bground_to_plane_fit", "strided_app", "time_str_for_filename",
]

F = TypeVar("F", bound=Callable[..., Any])


def filter_warnings(func: F) -> F:
    """Decorator: run ``func`` with warnings silenced (the original's ``@filter_warnings``).

    Unlike the original the wrapper keeps the wrapped function's name, docstring and
    signature (``functools.wraps``), so ``inspect.signature`` and ``help`` still work.
    """
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def read_yaml(yaml_file: str | os.PathLike) -> Any:
    """Load a YAML file (anchors and aliases allowed); an empty file gives ``{}``.

    Raises
    ------
    InputFileError
        Missing, unreadable or invalid file (one line naming it).
    """
    data = read_yaml_file(yaml_file, what="YAML file")
    return {} if data is None else data


def clean_dict(dictionary: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``dictionary`` with numpy values and tuples turned into plain Python
    values (lists, numbers), ready for ``yaml.safe_dump``."""
    return _plain(dictionary)


def click_param_annot(click_cmd: Any) -> dict[str, str]:
    """``{parameter name: help text}`` of a click command's options ("" without help)."""
    return {p.name: (getattr(p, "help", None) or "") for p in click_cmd.params}


# ------------------------------------------------------------------------------------------
# frames and chunks
# ------------------------------------------------------------------------------------------
def gen_batch_sequence(nframes: int, chunk_size: int, overlap: int, offset: int = 0
                       ) -> list[range]:
    """Frame ranges of consecutive chunks over ``range(offset, nframes)``.

    ``seq[i:i + chunk_size]`` for ``i`` in ``range(0, len(seq) - overlap, chunk_size -
    overlap)``; e.g. ``(25, 10, 5)`` gives ``[0:10], [5:15], [10:20], [15:25]``.  Each item
    is a ``range``, which h5py accepts as an index.
    """
    return chunk_ranges(int(offset), int(nframes), int(chunk_size), int(overlap))


def get_frame_range_indices(trim_beginning: int, trim_ending: int, nframes: int
                            ) -> tuple[int, int]:
    """``(first, last)`` frame (last exclusive) after trimming ``trim_beginning`` frames at
    the start and ``trim_ending`` at the end of a recording of ``nframes`` frames."""
    config = make_config({"frame_trim": (int(trim_beginning), int(trim_ending))})
    return frame_range(int(nframes), config)


def strided_app(a: np.ndarray, L: int, S: int) -> np.ndarray:
    """Windows of length ``L`` every ``S`` samples of the 1-D array ``a`` (a read-only
    view), shape ``((len(a) - L) // S + 1, L)``."""
    a = np.asarray(a)
    return np.lib.stride_tricks.sliding_window_view(a, int(L))[::int(S)]


# ------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------
def load_timestamps(timestamp_file: str | os.PathLike, col: int = 0,
                    alternate: bool = False) -> np.ndarray:
    """Timestamps from column ``col`` of a whitespace- (or comma-) separated text file.

    ``timestamps.csv`` holds seconds and is converted to milliseconds, like
    ``depth_ts.txt``'s column 0.  ``alternate`` (the original's switch for files whose
    column 0 is a device counter and column 1 the system time) reads column 1 instead.

    Returns
    -------
    ndarray, (n,) float64
    """
    path = Path(timestamp_file)
    column = 1 if alternate else int(col)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise InputFileError(f"{path}: cannot read ({err.strerror or err})") from None
    picked = []
    for line in lines:
        fields = line.replace(",", " ").split()
        if fields:
            if column >= len(fields):
                raise InputFileError(f"{path}: a line has no column {column}: {line!r}")
            picked.append(fields[column])
    return timestamps_from_text("\n".join(picked), seconds=path.suffix.lower() == ".csv",
                                source=str(path))


def load_metadata(metadata_file: str | os.PathLike) -> dict[str, Any]:
    """A session's ``metadata.json`` as a dict (created with defaults when missing)."""
    path = Path(metadata_file)
    return _load_metadata(path, session_name=path.parent.name)


def dict_to_h5(h5: h5py.File | h5py.Group, dic: Mapping[str, Any], root: str = "/",
               annotations: Mapping[str, str] | None = None) -> None:
    """Write ``dic`` under ``h5[root]`` (nested dicts become groups), as the h5
    ``parameters`` group is written; ``annotations`` gives ``description`` attributes."""
    group = h5.require_group(root) if root not in ("", "/") else h5
    write_parameters(group, dic, descriptions=annotations)


def h5_to_dict(h5file: str | os.PathLike | h5py.File | h5py.Group, path: str = "/"
               ) -> dict[str, Any]:
    """The group ``path`` of an h5 file (a path or an open file) as nested plain dicts."""
    if isinstance(h5file, (h5py.File, h5py.Group)):
        return read_group(h5file[path])
    with h5py.File(h5file, "r") as f:
        return read_group(f[path])


# ------------------------------------------------------------------------------------------
# geometry
# ------------------------------------------------------------------------------------------
def convert_pxs_to_mm(coords: np.ndarray, resolution: tuple[int, int] = (512, 424),
                      field_of_view: tuple[float, float] = (70.6, 60),
                      true_depth: float = 673.1) -> np.ndarray:
    """Pixel coordinates ``(n, 2)`` (x, y, full frame) to mm on the floor plane.

    The focal lengths come from the field of view with the pinhole model,
    ``f = size / (2 tan(fov / 2))`` (the original used radians for the tangent, spec
    7.1-7), centred on the image centre.

    Returns
    -------
    ndarray, (n, 2) float64, mm from the optical axis.
    """
    w, h = (int(v) for v in resolution)
    fx = w / (2 * np.tan(np.radians(field_of_view[0]) / 2))
    fy = h / (2 * np.tan(np.radians(field_of_view[1]) / 2))
    camera = CameraModel("custom", w, h, fx, fy, w // 2, h // 2, (1.0, 0.1, 1.0),
                         "gray16le", "<u2")
    pts = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    x_mm, y_mm = camera.px_to_mm(pts[:, 0], pts[:, 1], float(true_depth))
    return np.column_stack([x_mm, y_mm]).reshape(np.shape(coords))


def select_strel(string: str = "e", size: tuple[int, int] = (10, 10)) -> np.ndarray:
    """Structuring element: ``string`` starting with ``r`` a rectangle, else an ellipse,
    of ``size`` (width, height); uint8 array of shape (height, width)."""
    return make_strel(string, tuple(int(v) for v in size))  # type: ignore[arg-type]


def get_strels(config_data: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The structuring elements of a config: ``strel_dilate`` and ``strel_erode``
    (``bg_roi_shape`` with ``bg_roi_dilate`` / ``bg_roi_erode``), ``strel_tail``
    (``tail_filter_shape`` / ``tail_filter_size``) and ``strel_min``
    (``cable_filter_shape`` / ``cable_filter_size``); missing keys take the defaults."""
    config = make_config({k: config_data[k] for k in (
        "bg_roi_shape", "bg_roi_dilate", "bg_roi_erode", "tail_filter_shape",
        "tail_filter_size", "cable_filter_shape", "cable_filter_size") if k in config_data})
    return {
        "strel_dilate": select_strel(config.bg_roi_shape, config.bg_roi_dilate),
        "strel_erode": select_strel(config.bg_roi_shape, config.bg_roi_erode),
        "strel_tail": select_strel(config.tail_filter_shape, config.tail_filter_size),
        "strel_min": select_strel(config.cable_filter_shape, config.cable_filter_size),
    }


def set_bground_to_plane_fit(bground_im: np.ndarray, plane: np.ndarray,
                             output_dir: str | os.PathLike | None) -> np.ndarray:
    """Replace the background by the fitted floor plane ``(a, b, c, d)`` and, when
    ``output_dir`` is given, overwrite ``<output_dir>/bground.tiff`` with it.

    Returns
    -------
    ndarray, (H, W) float32, mm.
    """
    plane_im = plane_background(np.asarray(plane), np.shape(bground_im))
    if output_dir is not None:
        write_image(Path(output_dir) / "bground.tiff", plane_im)
    return plane_im


# ------------------------------------------------------------------------------------------
# config
# ------------------------------------------------------------------------------------------
def detect_avi_file(finfo: Mapping[str, Any] | None) -> str:
    """Camera preset name (``kinect``, ``azure``, ``realsense``) of an ``.avi`` from its
    frame size ``finfo['dims']`` (width, height).  Unknown sizes give ``kinect`` (with a
    warning) rather than the original's big-endian ``azure`` (spec 7.1-34)."""
    dims = (finfo or {}).get("dims")
    if not dims:
        logger.warning("no frame size known for the .avi; assuming kinect")
        return "kinect"
    return camera_for_frame_size(int(dims[0]), int(dims[1])).name


def detect_and_set_camera_parameters(config: MutableMapping[str, Any],
                                     input_file: str | os.PathLike | None = None
                                     ) -> MutableMapping[str, Any]:
    """Set the camera preset's ``bg_roi_weights``, ``pixel_format`` and ``movie_dtype``
    in ``config`` (in place) and return it.

    ``camera_type`` ``auto`` decides from ``input_file`` (``.dat`` / archives kinect,
    ``.mkv`` azure, ``.avi`` by its frame size: ``config['finfo']['dims']`` or the file
    itself); a preset name uses that preset; anything else leaves the values alone (with
    a warning).  A ``bg_roi_weights`` the user changed from the default is kept (the
    original always overwrote it).
    """
    camera_type = config.get("camera_type", "auto")
    if camera_type not in ("auto", "kinect", "azure", "realsense"):
        logger.warning("camera_type %r is not a known camera; parameters left unchanged",
                       camera_type)
        return config
    if camera_type == "auto" and input_file is None:
        logger.warning("camera_type auto needs the input file; parameters left unchanged")
        return config
    size = None
    name = str(input_file or "").lower()
    if name.endswith((".avi", ".mkv")):
        dims = (config.get("finfo") or {}).get("dims")
        if not dims and input_file is not None and Path(input_file).is_file():
            from .io.video import get_video_info

            dims = get_video_info(input_file, mapping=config.get("mapping", "DEPTH"))["dims"]
        size = (int(dims[0]), int(dims[1])) if dims else None
    if input_file is None:
        camera = PRESETS[str(camera_type)]
    else:
        camera = detect_camera(input_file, str(camera_type), size)
    weights = config.get("bg_roi_weights")
    if weights is None or tuple(float(w) for w in weights) == (1.0, 0.1, 1.0):
        config["bg_roi_weights"] = list(camera.bg_roi_weights)
    config["pixel_format"] = camera.pixel_format
    config["movie_dtype"] = camera.movie_dtype
    return config


def check_filter_sizes(config_data: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Make the first kernel of ``spatial_filter_size`` and ``temporal_filter_size`` odd
    (an even one is incremented by 1, with a warning naming the key); in place, returns
    ``config_data``.  Lists and tuples both work (the original crashed on tuples, spec
    7.1-19)."""
    for key in ("spatial_filter_size", "temporal_filter_size"):
        value = config_data.get(key)
        if value is None:
            continue
        sizes = [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        if sizes and sizes[0] > 0 and sizes[0] % 2 == 0:
            logger.warning("%s %d must be odd; using %d", key, sizes[0], sizes[0] + 1)
            warnings.warn(f"{key} {sizes[0]} must be odd; using {sizes[0] + 1}",
                          UserWarning, stacklevel=2)
            sizes[0] += 1
        config_data[key] = sizes
    return config_data
