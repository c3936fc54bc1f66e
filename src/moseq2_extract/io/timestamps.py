"""Per-frame timestamp files of a session.

* ``depth_ts.txt`` -- whitespace-separated columns; column 0 is the camera timestamp in
  milliseconds (column 1, the NI-DAQ time, is ignored).
* ``timestamps.csv`` -- comma- or whitespace-separated; column 0 in seconds, returned in
  milliseconds (x 1000), as the original does.

Azure ``azure-acquire`` sessions write seconds into ``depth_ts.txt``; the values are kept
as they are (the original does the same) -- see :func:`looks_like_seconds`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..stats import median

_SPLIT = re.compile(r"[,\s]+")


def timestamps_from_text(text: str, *, seconds: bool = False, source: str = "<text>",
                         bad_lines: list[int] | None = None) -> np.ndarray:
    """Parse timestamps, one line per frame, from the first column of ``text``.

    Parameters
    ----------
    text : str
        File contents; columns separated by commas and/or whitespace.  Blank lines are
        skipped.
    seconds : bool
        Column 0 is in seconds: multiply by 1000 to return milliseconds.
    source : str
        Name used in error messages (the file or archive member).
    bad_lines : list of int, optional
        When given, a line whose first column is not a number (a damaged file) does not
        stop the parse: its line number is appended here and its value is interpolated
        linearly from the readable neighbours (extrapolated by the median step at the
        ends).  When None, such a line is an error.

    Returns
    -------
    np.ndarray
        ``(n,)`` float64 timestamps (milliseconds, or the file's own unit).

    Raises
    ------
    InputFileError
        A non-numeric line without ``bad_lines`` (the message names the line number), no
        timestamps at all, or, with ``bad_lines``, more unreadable lines than readable ones.
    """
    values: list[float] = []
    bad: list[tuple[int, int]] = []  # (line number, position)
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().lstrip("\ufeff")
        if not stripped:
            continue
        first = _SPLIT.split(stripped, maxsplit=1)[0]
        try:
            value = float(first)
        except ValueError:
            if bad_lines is None:
                shown = stripped if len(stripped) <= 40 else stripped[:37] + "..."
                raise InputFileError(
                    f"{source}: line {lineno} is not a number: {shown!r}"
                ) from None
            bad.append((lineno, len(values)))
            value = float("nan")
        values.append(value)
    if not values:
        raise InputFileError(f"{source}: no timestamps (empty file)")
    ts = np.asarray(values, dtype=np.float64)
    if bad:
        assert bad_lines is not None
        if 2 * len(bad) > len(values):
            raise InputFileError(f"{source}: {len(bad)} of {len(values)} lines are not "
                                 "numbers; not a timestamp file")
        ts = _interpolate_gaps(ts)
        bad_lines.extend(lineno for lineno, _ in bad)
    if seconds:
        ts *= 1000.0
    return ts


def _interpolate_gaps(ts: np.ndarray) -> np.ndarray:
    """Fill NaN entries linearly between readable ones; extrapolate the ends by the median
    step (0 when only one value is readable)."""
    good = np.flatnonzero(np.isfinite(ts))
    pos = np.arange(len(ts))
    out = np.interp(pos, good, ts[good])
    step = float(median(np.diff(ts[good]) / np.diff(good))) if len(good) > 1 else 0.0
    before, after = pos < good[0], pos > good[-1]
    out[before] = ts[good[0]] - (good[0] - pos[before]) * step
    out[after] = ts[good[-1]] + (pos[after] - good[-1]) * step
    return out


def is_seconds_file(path: str | Path) -> bool:
    """Whether a timestamp file holds seconds by convention (``timestamps.csv``)."""
    return Path(path).name.lower().endswith(".csv")


def load_timestamps(path: str | Path, *, bad_lines: list[int] | None = None) -> np.ndarray:
    """Load a session's timestamp file.

    Parameters
    ----------
    path : path-like
        ``depth_ts.txt`` (column 0 in ms) or ``timestamps.csv`` (column 0 in seconds,
        converted to ms).  Any other ``.csv`` is read as seconds, anything else as ms.

    Returns
    -------
    np.ndarray
        ``(n,)`` float64 timestamps.

    Raises
    ------
    InputFileError
        Missing, unreadable, empty, or with a non-numeric line (unless ``bad_lines`` is
        given, see :func:`timestamps_from_text`).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as err:
        raise InputFileError(f"{path}: cannot read ({err.strerror or err})") from None
    return timestamps_from_text(text, seconds=is_seconds_file(path), source=str(path),
                                bad_lines=bad_lines)


def looks_like_seconds(timestamps: np.ndarray) -> bool:
    """Heuristic: True when frame spacing is far below a millisecond-scale frame period.

    Depth cameras run at 5-100 fps, i.e. 10-200 ms between frames; a median step below
    1 means the values are seconds.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    if len(ts) < 3:
        return False
    steps = np.diff(ts)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return bool(len(steps)) and median(steps) < 1.0


__all__ = ["is_seconds_file", "load_timestamps", "looks_like_seconds", "timestamps_from_text"]
