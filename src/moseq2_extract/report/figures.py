"""The report's plots, drawn with matplotlib (object API on the Agg canvas: no pyplot, no
global state, no display needed).

:func:`timeline_figure` is the session's record over time, as in Wiltschko et al. 2015,
Fig. 1B: the depth raster of the crops (the spine's height profile per frame), then the
traces of speed, height, area, length, width and heading confidence, with the quality
flags shaded and the dropped frames marked.  Long sessions are binned to at most
:data:`MAX_COLUMNS` points (each bin's mean as the line, its range as a light band, so that
short spikes stay visible).

Matplotlib's fixed cost (its import, the first font and text layout: about a second) is
paid by :func:`warm_up`, which ``extract`` runs on a thread while the frames are extracted;
the figure itself is drawn with the settings in :data:`RC` (no style files read) and
encoded to PNG by OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import SessionData
from .metrics import DroppedFrames, flag_masks, runs
from .pictures import png

#: Most time bins drawn in a trace or the raster.
MAX_COLUMNS = 1500
FLAG_COLOURS = {
    "thin_removed": "#1f77b4", "part_missing": "#ff7f0e", "intrusion": "#d62728",
    "not_found": "#7f7f7f", "tracker_fallback": "#9467bd", "not_largest": "#8c564b",
}
DPI = 80
#: Settings the figure is drawn with (on top of matplotlib's defaults): tick labels at 7
#: pt set here rather than through ``tick_params``, which would make (and then hide) a
#: tick of every axis.
RC: dict[Any, Any] = {"xtick.labelsize": 7, "ytick.labelsize": 7}


def bin_edges(n: int, max_bins: int = MAX_COLUMNS) -> np.ndarray:
    """Start indices of at most ``max_bins`` equal bins over ``n`` frames."""
    k = max(1, min(n, max_bins))
    return np.unique(np.linspace(0, n, k + 1)[:-1].astype(np.int64))


def binned(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin mean, min and max of ``values`` ((n,) float) ignoring NaN (NaN for empty
    bins)."""
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    filled = np.where(ok, v, 0.0)
    count = np.add.reduceat(ok.astype(np.float64), edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.add.reduceat(filled, edges) / count
    lo = np.minimum.reduceat(np.where(ok, v, np.inf), edges)
    hi = np.maximum.reduceat(np.where(ok, v, -np.inf), edges)
    empty = count == 0
    mean[empty] = lo[empty] = hi[empty] = np.nan
    return mean, lo, hi


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    """PNG bytes of a figure: drawn on its Agg canvas, encoded by OpenCV (RGB, opaque)."""
    import cv2

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return png(cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR))


@dataclass
class TimelineCanvas:
    """An empty timeline figure, laid out and drawn once ahead of time (by :func:`warm_up`,
    while the extraction runs), so that its ticks, labels and text layouts exist when the
    data come: :func:`timeline_figure` then only adds the data and draws.  Used once.

    Attributes
    ----------
    n_traces : int
        Trace panels below the raster and the events row (6 with heading confidence).
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
    used : bool
    """

    n_traces: int
    fig: Any
    axes: list[Any]
    used: bool = False


TRACE_LABELS = ("speed\n(mm/s)", "height\n(mm)", "area\n(mm²)", "length\n(mm)",
                "width\n(mm)", "heading\nconfidence")


def timeline_figure(data: SessionData, spine: np.ndarray, speed: np.ndarray,
                    dropped: DroppedFrames, *, canvas: TimelineCanvas | None = None
                    ) -> bytes:
    """PNG of the depth raster and the traces over time.

    Parameters
    ----------
    spine : ndarray, (n, c1) float32
        Spine height profiles (:func:`.pictures.read_crops`).
    speed : ndarray, (n,) float64, mm/s
    dropped : DroppedFrames
    canvas : TimelineCanvas, optional
        A figure prepared by :func:`warm_up`; used when it has the panels this session
        needs and has not been used (the picture is the same either way).
    """
    from matplotlib import rc_context

    values = [speed, data.scalars["height_ave_mm"], data.scalars["area_mm"],
              data.scalars["length_mm"], data.scalars["width_mm"]]
    if data.heading_confidence is not None:
        values.append(data.heading_confidence)
    with rc_context(RC):
        if canvas is None or canvas.used or canvas.n_traces != len(values):
            canvas = _layout(len(values))
        canvas.used = True
        _plot(canvas.axes, data, spine, values, dropped)
        return _png(canvas.fig)


def _layout(n_traces: int) -> TimelineCanvas:
    """The timeline's empty figure: the raster, the events row, ``n_traces`` traces."""
    from matplotlib.ticker import MaxNLocator

    heights = [2.2, 0.9] + [1.0] * n_traces
    fig = _figure(11.0, 0.7 * sum(heights) + 0.6)
    # separate x axes with one set of ticks at the bottom: shared axes would lay out
    # (and draw) hidden ticks on every panel
    axes = list(fig.subplots(len(heights), 1,
                             gridspec_kw={"height_ratios": heights, "hspace": 0.12}))
    fig.subplots_adjust(left=0.09, right=0.985, top=0.975, bottom=0.06)
    axes[0].set_ylabel("spine\n(tail → head)")
    axes[0].set_yticks([])
    axes[1].set_ylabel("events", fontsize=8)
    for ax, label in zip(axes[2:], TRACE_LABELS):
        ax.set_ylabel(label, fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(3))
    for ax in axes[:-1]:
        ax.xaxis.set_visible(False)
    axes[-1].set_xlabel("time (s)")
    return TimelineCanvas(n_traces, fig, axes)


def _plot(axes: list[Any], data: SessionData, spine: np.ndarray, values: list[np.ndarray],
          dropped: DroppedFrames) -> None:
    """Draw one session's data into the axes of :func:`_layout`."""
    n = data.n_frames
    t = data.time_s
    edges = bin_edges(n)
    tb = t[edges] if n else np.zeros(0)
    stretches = flag_masks(data.quality)
    end = float(t[-1]) if n else 1.0

    # the depth raster: spine profile per time bin, head (crop's right side) on top
    ax = axes[0]
    if n:
        profile = np.add.reduceat(spine.astype(np.float64), edges, axis=0)
        profile /= np.diff(np.append(edges, n))[:, None]
        vmax = float(np.percentile(profile[profile > 0], 99)) if np.any(profile > 0) else 1.0
        ax.imshow(profile.T[::-1], aspect="auto", cmap="viridis", vmin=0, vmax=vmax,
                  extent=(0.0, end, 0.0, float(spine.shape[1])), interpolation="nearest")

    # events: quality flags (one row each) and dropped frames
    ax = axes[1]
    labels = []
    for row, (name, mask) in enumerate(stretches.items()):
        ranges = [(t[a], max(t[b - 1] - t[a], 1.0 / data.fps)) for a, b in runs(mask)]
        ax.broken_barh(ranges, (row + 0.1, 0.8), color=FLAG_COLOURS.get(name, "k"))
        labels.append(name.replace("_", " "))
    if dropped.after.size:
        gap_t = t[dropped.after]
        ax.vlines(gap_t, len(labels) + 0.1, len(labels) + 0.9, color="k", lw=1.0)
    labels.append(f"dropped ({dropped.total})")
    ax.set_ylim(0, len(labels))
    ax.set_yticks(np.arange(len(labels)) + 0.5, labels)

    any_flag = np.zeros(n, bool)
    for mask in stretches.values():
        any_flag |= mask
    flag_bins = np.maximum.reduceat(any_flag.astype(np.int8), edges) > 0 if n else any_flag
    for ax, label, trace in zip(axes[2:], TRACE_LABELS, values):
        if n:
            mean, lo, hi = binned(trace, edges)
            ax.fill_between(tb, lo, hi, color="#9ecae1", lw=0, step="post")
            ax.plot(tb, mean, color="#08519c", lw=0.8, drawstyle="steps-post")
            if flag_bins.any():
                ax.fill_between(tb, 0, 1, where=flag_bins, step="post", color="#d62728",
                                alpha=0.15, lw=0, transform=ax.get_xaxis_transform())
        if label.startswith("heading"):
            ax.set_ylim(0.45, 1.05)
    for ax in axes:
        ax.set_xlim(0.0, end)


def warm_up(n_traces: int = len(TRACE_LABELS)) -> TimelineCanvas:
    """Pay matplotlib's fixed cost ahead of time: import it, then lay out and draw an empty
    timeline of ``n_traces`` traces (its first text layout loads the font), returned for
    :func:`timeline_figure` to fill.  (Drawing a throwaway figure with every kind of artist
    as well was measured: it costs more than it saves.)"""
    from matplotlib import rc_context

    with rc_context(RC):
        canvas = _layout(n_traces)
        canvas.fig.canvas.draw()
    return canvas
