"""Functions the moseq2-app notebooks call (spec 6.4): thin layers over the helpers.

These talk to a person in a notebook, so a few of them ask questions on standard input
(``input()``) exactly where the original did.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import config as cfg
from .batch.discovery import find_sessions, load_found_session_paths
from .config import read_config_file
from .helpers.extract import run_local_extract, run_slurm_extract
from .helpers.wrappers import (
    aggregate_extract_results_wrapper,
    extract_wrapper,
    flip_file_wrapper,
    generate_index_wrapper,
    get_roi_wrapper,
)
from .paths import write_yaml_atomic

logger = logging.getLogger(__name__)

__all__ = [
    "aggregate_extract_results_command",
    "download_flip_command",
    "extract_command",
    "extract_found_sessions",
    "find_roi_command",
    "generate_config_command",
    "generate_index_command",
    "get_selected_sessions",
    "parse_selection",
]

# generate_config_command's Azure changes (not crop_size nor camera_type, unlike the CLI)
_GUI_AZURE = {"bg_roi_depth_range": [550.0, 650.0], "spatial_filter_size": [5],
              "tail_filter_size": [15, 15]}


def generate_config_command(output_file: str | os.PathLike, camera_type: str = "k2") -> str:
    """Write a config file with every extraction parameter.

    If the file exists, asks on standard input ``[y -> yes, n -> no]`` whether to
    overwrite it.

    Returns
    -------
    str
        "Configuration file has been successfully generated." or "Configuration file has
        been retained".
    """
    path = Path(output_file)
    if path.exists():
        answer = input(f"{path} already exists. Overwrite it? [y -> yes, n -> no]: ")
        if not answer.strip().lower().startswith("y"):
            return "Configuration file has been retained"
    data = cfg.generate_config_dict("k2")
    if camera_type == "azure":
        data.update(_GUI_AZURE)
    write_yaml_atomic(path, data)
    return "Configuration file has been successfully generated."


def download_flip_command(output_dir: str | os.PathLike, config_file: str | os.PathLike = "",
                          selection: int = 1) -> str:
    """Download flip classifier ``selection`` (1 = adult male C57, Kinect; 3 = Azure) and
    record it in ``config_file``; returns the downloaded path."""
    return flip_file_wrapper(config_file, output_dir, selected_flip=selection)


def parse_selection(text: str, n: int) -> list[int] | None:
    """Parse a session choice: 1-based numbers ``"1,2,3"``, ranges ``"1-3"``, exclusions
    prefixed with ``e`` (``"e2-3"``: all but 2 and 3); ``q`` = quit (returns None).

    Returns
    -------
    list of int or None
        Sorted 0-based indices.

    Raises
    ------
    ValueError
        On text that is none of these.
    """
    text = text.strip().lower()
    if text == "q":
        return None
    exclude = text.startswith("e")
    if exclude:
        text = text[1:].strip()
    chosen: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", part)
        if m is None:
            raise ValueError(f"cannot read {part!r}: use numbers, ranges (1-3) or e2-3")
        a = int(m.group(1))
        b = int(m.group(2) or a)
        chosen.update(range(min(a, b), max(a, b) + 1))
    bad = [i for i in chosen if not 1 <= i <= n]
    if bad:
        raise ValueError(f"session numbers must be within 1-{n}, got {sorted(bad)}")
    picked = set(range(1, n + 1)) - chosen if exclude else chosen
    return sorted(i - 1 for i in picked)


def get_selected_sessions(to_extract: Sequence[str], extract_all: bool, *,
                          ask: Callable[[str], str] | None = None,
                          show: Callable[[str], object] | None = None) -> list[str]:
    """Ask which sessions to extract (unless ``extract_all`` or at most one session).

    Parameters
    ----------
    ask, show : callable
        Read an answer / show a line (default: the built-in ``input`` and ``print``,
        looked up at call time).

    Returns
    -------
    list of str
        The chosen sessions (``[]`` after ``q``).
    """
    if extract_all or len(to_extract) <= 1:
        return list(to_extract)
    ask = ask or builtins.input
    show = show or builtins.print
    for i, path in enumerate(to_extract, 1):
        show(f"[{i}] {path}")
    while True:
        text = ask("Sessions to extract (e.g. 1,2,3 or 1-3 or e2-3; q to quit): ")
        try:
            picked = parse_selection(text, len(to_extract))
        except ValueError as err:
            show(str(err))
            continue
        return [] if picked is None else [to_extract[i] for i in picked]


def _session_config(config_data: dict[str, Any], input_file: Path) -> dict[str, Any]:
    path = config_data.get("session_config_path")
    if not path or not Path(path).is_file():
        return config_data
    sessions = read_config_file(path)
    key = input_file.parent.name
    entry = sessions.get(key)
    if not isinstance(entry, dict):
        logger.info("%s: no entry %s in %s; using the main config", input_file, key, path)
        return config_data
    return {**config_data, **entry}


def extract_command(input_file: str | os.PathLike, output_dir: str | os.PathLike | None,
                    config_file: str | os.PathLike, num_frames: int | None = None,
                    skip: bool = False) -> str:
    """Extract one session with the parameters of ``config_file`` (and its
    ``session_config_path`` entry for this session, when there is one).

    Returns
    -------
    str
        "Extraction completed."
    """
    input_file = Path(input_file)
    data = _session_config(read_config_file(config_file), input_file)
    data["config_file"] = str(config_file)
    out = output_dir if output_dir is not None else (data.get("output_dir") or "proc")
    extract_wrapper(input_file, out, data, num_frames=num_frames, skip=skip)
    return "Extraction completed."


def extract_found_sessions(input_dir: str | os.PathLike, config_file: str | os.PathLike,
                           ext: str | Sequence[str], extract_all: bool = True,
                           skip_extracted: bool = False) -> list:
    """Find every session under ``input_dir`` and extract them (locally in turn, or on
    SLURM when the config's ``cluster_type`` is ``slurm``).

    Unlike the original, sessions under a ``/tmp/`` path are not dropped.

    Returns
    -------
    list
        What :func:`~moseq2_extract.helpers.extract.run_local_extract` or
        :func:`~moseq2_extract.helpers.extract.run_slurm_extract` returned.

    Raises
    ------
    OSError
        When ``config_file`` does not exist.
    """
    if not Path(config_file).is_file():
        raise OSError(f"{config_file}: config file not found; generate one first")
    data = read_config_file(config_file)
    exts = [ext] if isinstance(ext, str) else list(ext)
    sessions = find_sessions(input_dir, exts, output_dir=data.get("output_dir") or "proc",
                             bg_roi_index=_first_index(data.get("bg_roi_index", 0)))
    paths = [str(s.depth_file) for s in sessions
             if s.conflict is None and not (skip_extracted and s.complete)]
    paths = get_selected_sessions(paths, extract_all)
    if not paths:
        return []
    if data.get("cluster_type") == "slurm":
        defaults = cfg.defaults((cfg.BATCH,))
        return run_slurm_extract(input_dir, paths, {**defaults, **data, "config_file":
                                                    str(config_file)},
                                 skip_extracted=skip_extracted)
    return run_local_extract(paths, {**data, "config_file": str(config_file)},
                             skip_extracted=skip_extracted)


def _first_index(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value else 0
    return int(value or 0)


def find_roi_command(input_dir: str | os.PathLike, config_file: str | os.PathLike,
                     exts: Sequence[str] = ("dat", "mkv", "avi"), select_session: bool = False,
                     default_session: int = 0) -> tuple[list, list] | None:
    """Find the arena of one session one folder below ``input_dir`` and show its images.

    The session is ``default_session`` of the sorted list (asked on standard input with
    ``select_session``).  The effective ROI values (depth range, camera preset) are written
    back to ``config_file``; unlike the original, the session's ``output_dir`` and
    ``finfo`` are not, so the shared config stays valid for the other sessions.

    Returns
    -------
    (images, filenames) or None
        Every TIFF of the session's ``proc`` folder, or None when no session is found.
    """
    from .io.image import read_image

    paths = load_found_session_paths(input_dir, exts)
    if not paths:
        return None
    index = int(default_session)
    if select_session and len(paths) > 1:
        picked = get_selected_sessions(paths, extract_all=False)
        if not picked:
            return None
        index = paths.index(picked[0])
    path = Path(paths[min(max(index, 0), len(paths) - 1)])
    data = read_config_file(config_file) if Path(config_file).is_file() else {}
    work = dict(data)
    get_roi_wrapper(path, work, output_dir=path.parent / "proc")
    for key in ("bg_roi_depth_range", "pixel_format", "movie_dtype"):
        data[key] = work[key]
    write_yaml_atomic(Path(config_file), data)
    files = sorted(str(p) for p in (path.parent / "proc").glob("*.tiff"))
    images = [read_image(p) for p in files]
    return images, files


def generate_index_command(input_dir: str | os.PathLike, output_file: str | os.PathLike
                           ) -> str:
    """Write the index of every complete extraction under ``input_dir``; returns its path."""
    return generate_index_wrapper(input_dir, output_file)


def aggregate_extract_results_command(input_dir: str | os.PathLike, format: str,
                                      output_dir: str | os.PathLike,
                                      mouse_threshold: float = 0.0) -> str:
    """Aggregate into ``<input_dir>/<output_dir>``; returns the index path."""
    out = Path(input_dir) / output_dir
    out.mkdir(parents=True, exist_ok=True)
    return aggregate_extract_results_wrapper(input_dir, format, out, mouse_threshold)
