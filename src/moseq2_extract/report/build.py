"""Writing the QC report: one page per extraction, an index page per batch.

``proc/report.html`` (``report_XX.html`` for ``results_XX.h5`` with XX other than 00) is
the page of one extraction; ``<folder>/report.html`` the index of every extraction found
under a folder, each row linking to its session's page.  Pages are written atomically.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import IMPLEMENTATION, __version__
from ..errors import InputFileError
from ..extract.quality import QUALITY_DATASET
from ..paths import write_bytes_atomic, write_text_atomic
from . import figures, html, pictures
from .data import SessionData, load_session_data
from .metrics import (
    DROPPED_LIMIT,
    FLAGGED_LIMIT,
    MISSING_LIMIT,
    ROBUST_Z,
    SessionSummary,
    dropped_frames,
    flag_masks,
    mark_outliers,
    runs,
    speed_mm_s,
    summarize,
)

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"


@dataclass(frozen=True)
class ReportOutcome:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    index : Path or None
        The batch index page (None for a single session).
    sessions : list of Path
        The session pages.
    rows : list of SessionSummary
    seconds : float
        Time taken.
    """

    index: Path | None
    sessions: list[Path]
    rows: list[SessionSummary]
    seconds: float

    @property
    def main(self) -> Path:
        """The page to open: the index, or the only session page."""
        return self.index if self.index is not None else self.sessions[0]


def session_report_path(h5_path: str | os.PathLike) -> Path:
    """``report.html`` next to ``results_00.h5``, ``report_XX.html`` next to others."""
    path = Path(h5_path)
    stem = path.stem
    suffix = stem[len("results_"):] if stem.startswith("results_") else stem
    name = REPORT_NAME if suffix in ("00", "") else f"report_{suffix}.html"
    return path.with_name(name)


def find_results(path: str | os.PathLike) -> list[Path]:
    """Results files a ``report`` argument names: the file itself, the ``results_XX.h5``
    of an output folder, or every ``results_XX.h5`` below a folder (hidden and partial
    files left out), sorted."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InputFileError(f"{root}: no such file or folder")
    here = sorted(p for p in root.glob("results_*.h5") if p.is_file())
    if here:
        return here
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in filenames
                     if f.startswith("results_") and f.endswith(".h5"))
    return sorted(found)


def _picture(image: np.ndarray, caption: str, alt: str) -> html.Picture:
    # JPEG: a tenth of PNG's encoding time on these pictures, and smaller
    return html.Picture(pictures.jpeg(image), int(image.shape[1]), int(image.shape[0]),
                        caption, alt, mime="image/jpeg")


def _versions() -> list[tuple[str, str]]:
    import h5py

    out = [("moseq2-extract (this report)", f"{__version__} ({IMPLEMENTATION})"),
           ("python", platform.python_version()),
           ("numpy", np.__version__), ("opencv", cv2.__version__), ("h5py", h5py.__version__)]
    out.append(("plotly.js (the plots)", figures.plotly_version()))
    return out


def _badge(text: str, bad: bool) -> str:
    return f'<span class="{"bad" if bad else ""}">{html.esc(text)}</span>'


def _quality_section(data: SessionData) -> str:
    if data.quality is None:
        return (f'<p class="note">This results file has no per-frame quality record '
                f"(<code>{QUALITY_DATASET}</code>).</p>")
    masks = flag_masks(data.quality)
    if not masks:
        return "<p>No frame carries a quality flag.</p>"
    rows = []
    for name, mask in masks.items():
        stretches = runs(mask)
        longest = max(b - a for a, b in stretches)
        first = ", ".join(f"{data.time_s[a]:.1f}–{data.time_s[b - 1]:.1f} s"
                          for a, b in stretches[:5])
        rows.append([html.text_cell(name.replace("_", " ")),
                     html.num_cell(float(mask.sum()), 9),
                     html.num_cell(100.0 * float(mask.mean()), 3),
                     html.num_cell(float(len(stretches)), 9),
                     html.num_cell(float(longest), 9),
                     html.text_cell(first + (" …" if len(stretches) > 5 else ""))])
    return html.data_table(["flag", "frames", "% of frames", "stretches", "longest (frames)",
                            "first stretches"], rows, table_id="quality")


def _dropped_section(data: SessionData) -> str:
    if data.timestamps is None:
        return '<p class="note">No timestamps in this file: dropped frames are unknown.</p>'
    gaps = dropped_frames(data.time_s, data.fps)
    if gaps.total == 0:
        return "<p>No dropped frames: every timestamp step is one frame period.</p>"
    order = np.argsort(-gaps.missing, kind="stable")[:20]
    rows = [[html.num_cell(float(gaps.after[i]), 9),
             html.num_cell(float(data.time_s[gaps.after[i]]), 5),
             html.num_cell(float(gaps.missing[i]), 9)] for i in order]
    note = (f"<p>{gaps.total} frame(s) missing in {gaps.after.size} gap(s) "
            f"({gaps.percent(data.n_frames):.2f} %).</p>")
    more = "<p class='note'>The 20 largest gaps are listed.</p>" if gaps.after.size > 20 else ""
    return note + html.data_table(["after frame", "time (s)", "frames missing"], rows,
                                  table_id="dropped") + more


def _frames_picture(data: SessionData, sample: pictures.CropSample) -> html.Picture:
    """The sampled frames with the mouse's outline and heading, side by side."""
    raw = pictures.read_raw_frames(data, sample.frame_idx)
    return _picture(pictures.hstack(pictures.frame_pictures(data, sample, raw)),
                    ("Frames of the recording" if raw is not None else
                     "Frames rebuilt from the crops on the background (the recording was "
                     "not found or cannot be read at random)")
                    + ": the extracted outline (white) and heading (amber arrow).",
                    "frames")


def render_session(data: SessionData, *, seconds: float | None = None,
                   index_href: str | None = None) -> tuple[list[bytes], SessionSummary]:
    """The session page's HTML (UTF-8 chunks, :func:`.html.page_chunks`) and its index
    row."""
    t0 = time.perf_counter()
    # the pictures are drawn on a helper thread while this one reads the crops and builds
    # the timeline (OpenCV and numpy release the GIL for most of either)
    with ThreadPoolExecutor(1, thread_name_prefix="report") as helper:
        arena = helper.submit(lambda: _picture(
            pictures.arena_picture(data),
            "Background (near = bright) with the ROI outlined in red.", "arena"))
        path = helper.submit(lambda: _picture(
            pictures.path_picture(data),
            "The centroid's path over the ROI, coloured by time (dark blue = start, "
            "yellow = end).", "centroid path"))
        sample = pictures.read_crops(data)
        frames = helper.submit(_frames_picture, data, sample)
        montage = helper.submit(lambda: _picture(
            pictures.montage_picture(data, sample),
            "Crops sampled evenly through the session (colour = height); with the heading "
            "right, every head points east (right).", "montage"))
        t1 = time.perf_counter()
        over_time = figures.timeline_html(
            data, sample.spine, speed_mm_s(data), dropped_frames(data.time_s, data.fps),
            caption="Top: depth raster of the crops over time (the height along the spine, "
                    "tail at the bottom, head at the top). Then the quality flags and "
                    "dropped frames, and the traces (line = mean per time bin, band = its "
                    "range; red shading = flagged frames). Drag to zoom into a stretch, "
                    "double-click to zoom out.")
        t2 = time.perf_counter()
        drawn = [arena.result(), path.result()], frames.result(), montage.result()
    t3 = time.perf_counter()
    row = summarize(data, report=session_report_path(data.h5_path), seconds=seconds)
    mark_outliers([row])
    body = _session_body(data, row, seconds, index_href, *drawn, over_time)
    log.debug("report %s: crops %.2f s, timeline %.2f s, then pictures %.2f s",
              data.h5_path, t1 - t0, t2 - t1, t3 - t2)
    return (html.page_chunks(f"{data.name} — extraction report", body,
                             head_scripts=[figures.plotly_bundle()]), row)


def _session_body(data: SessionData, row: SessionSummary, seconds: float | None,
                  index_href: str | None, arena: list[html.Picture], frames: html.Picture,
                  montage: html.Picture, timeline: str) -> str:
    back = f'<p><a href="{index_href}">← all sessions</a></p>' if index_href else ""
    badges = "".join([
        _badge(f"{row.n_frames} frames, {row.duration_s:.1f} s at {data.fps:.2f} fps", False),
        _badge("dropped frames: " + (f"{row.dropped_pct:.2f} %" if row.dropped_pct is not None
                                     else "unknown (no timestamps)"),
               row.dropped_pct is not None and row.dropped_pct >= DROPPED_LIMIT),
        _badge(f"mouse missing: {row.missing_pct:.2f} %", row.missing_pct >= MISSING_LIMIT),
        _badge("flagged frames: " + (f"{row.flagged_pct:.2f} %" if row.flagged_pct is not None
                                     else "no quality record"),
               row.flagged_pct is not None and row.flagged_pct >= FLAGGED_LIMIT),
        _badge("heading confidence: " + html.fmt(row.heading_confidence), False),
        _badge(f"mean speed: {html.fmt(row.speed_mm_s)} mm/s", False),
    ])
    outliers = ("<p class='bad'>Stands out: " + html.esc("; ".join(row.outliers)) + "</p>"
                if row.outliers else "")
    info = [
        ("results file", str(data.h5_path)),
        ("input file", str(data.input_file) if data.input_file else "not found"),
        ("subject", data.subject), ("session", data.name),
        ("start time", data.metadata.get("StartTime", "")),
        ("uuid", data.uuid),
        ("frames", f"{data.n_frames} (video frames {data.first_frame_idx}–"
                   f"{data.first_frame_idx + data.n_frames - 1})"),
        ("crop size", f"{data.crop_shape[0]} × {data.crop_shape[1]} px"),
        ("floor depth", f"{data.true_depth:.1f} mm"),
        ("extraction time", f"{seconds:.1f} s ({data.n_frames / seconds:.0f} frames/s)"
         if seconds else "not recorded (known only to the run that extracted)"),
        ("extract_version in the file", data.version),
        ("report written", _dt.datetime.now().astimezone().isoformat(timespec="seconds")),
    ]
    params = sorted(data.parameters.items())
    meta = sorted(data.metadata.items())
    return "\n".join([
        back,
        f"<h1>{html.esc(data.name)}</h1>",
        f'<p class="sub">{html.esc(data.subject)} — {html.esc(data.h5_path)}</p>',
        f'<div class="badges">{badges}</div>', outliers,
        "<h2>Arena</h2>", "".join(html.figure(p, display_width=min(p.width, 620))
                                  for p in arena),
        "<h2>Frames</h2>", html.figure(frames),
        "<h2>Crops through the session</h2>", html.figure(montage),
        "<h2>Over time</h2>", timeline,
        "<h2>Quality flags</h2>", _quality_section(data),
        "<h2>Dropped frames</h2>", _dropped_section(data),
        "<h2>Session</h2>", html.key_value_table(info),
        "<h2>Versions</h2>", html.key_value_table(_versions()),
        f"<details><summary>Parameters ({len(params)})</summary>"
        f"{html.key_value_table(params)}</details>",
        f"<details><summary>Acquisition metadata ({len(meta)})</summary>"
        f"{html.key_value_table(meta)}</details>",
    ])


def write_session_report(h5_path: str | os.PathLike, *, seconds: float | None = None,
                         index_href: str | None = None) -> tuple[Path, SessionSummary]:
    """Write the page of one extraction next to its results file.

    Parameters
    ----------
    h5_path : path-like
        ``results_XX.h5``.
    seconds : float, optional
        The extraction's wall time (shown when given).
    index_href : str, optional
        Link back to a batch index page.

    Returns
    -------
    (Path, SessionSummary)
        The page and its index row.
    """
    data = load_session_data(h5_path)
    chunks, row = render_session(data, seconds=seconds, index_href=index_href)
    out = session_report_path(h5_path)
    write_bytes_atomic(out, chunks, durable=False)
    return out, row


def _up_to_date(page: Path, h5: Path) -> bool:
    try:
        return page.stat().st_mtime >= h5.stat().st_mtime
    except OSError:
        return False


def render_batch(rows: list[SessionSummary], index_dir: Path, *, title: str) -> str:
    """The index page's HTML (``rows`` already carry their outlier marks)."""
    n_out = sum(bool(r.outliers) for r in rows)
    rules = (f"dropped frames ≥ {DROPPED_LIMIT:g} %; mouse missing in ≥ {MISSING_LIMIT:g} % "
             f"of frames; flagged frames ≥ {FLAGGED_LIMIT:g} %; median area or mean speed "
             f"more than {ROBUST_Z:g} robust standard deviations from the batch's median "
             "(three sessions or more)")
    body = "\n".join([
        f"<h1>{html.esc(title)}</h1>",
        f'<p class="sub">{len(rows)} session(s), {n_out} marked as outlier(s). '
        "Click a column to sort; click a session to open its page.</p>",
        html.batch_table(rows, index_dir),
        f'<p class="note">Outlier rules: {html.esc(rules)}.</p>',
        f'<p class="note">Written {_dt.datetime.now().astimezone().isoformat(timespec="seconds")}'
        f" by moseq2-extract {html.esc(__version__)} ({html.esc(IMPLEMENTATION)}).</p>",
    ])
    return html.page(title, body)


def write_report(path: str | os.PathLike, *, seconds: Mapping[str, float] | None = None,
                 index: bool | None = None, force: bool = True) -> ReportOutcome:
    """Write the QC report of one extraction or of every extraction under a folder.

    Parameters
    ----------
    path : path-like
        A ``results_XX.h5``, an output folder (``proc/``) or a folder of sessions.
    seconds : mapping of str to float, optional
        Extraction wall time by results path (as ``str(Path)``), shown when known.
    index : bool, optional
        Write ``<path>/report.html`` indexing the sessions; by default when ``path`` is a
        folder without results files of its own.
    force : bool
        Rewrite every session page; when False, a page newer than its results file is
        kept (its index row is still computed from the file).

    Raises
    ------
    InputFileError
        If ``path`` holds no results file, or a results file cannot be read.
    """
    t0 = time.perf_counter()
    root = Path(path)
    found = find_results(root)
    if not found:
        raise InputFileError(f"{root}: no results_XX.h5 found")
    if index is None:
        index = root.is_dir() and not any(p.parent == root for p in found)
    seconds = seconds or {}
    index_path = root / REPORT_NAME if index else None
    pages, rows = [], []
    for h5 in found:
        href = (html.relative_href(index_path, session_report_path(h5).parent)
                if index_path is not None else None)
        page_path = session_report_path(h5)
        if not force and _up_to_date(page_path, h5) and str(h5) not in seconds:
            row = summarize(load_session_data(h5), report=page_path)
        else:
            page_path, row = write_session_report(h5, seconds=seconds.get(str(h5)),
                                                  index_href=href)
        pages.append(page_path)
        rows.append(row)
    mark_outliers(rows)
    if index_path is not None:
        title = f"Extraction report — {root.resolve().name}"
        write_text_atomic(index_path, render_batch(rows, root, title=title), durable=False)
    return ReportOutcome(index_path, pages, rows, time.perf_counter() - t0)
