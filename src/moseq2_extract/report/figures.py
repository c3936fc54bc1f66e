"""The report's plots over time, drawn in the browser by plotly.js (inlined in the page).

:func:`timeline_html` is the session's record over time, as in Wiltschko et al. 2015,
Fig. 1B: the depth raster of the crops (the spine's height profile per frame), then the
quality flags and dropped frames, then the traces of speed, height, area, length, width
and heading confidence, with the flagged stretches shaded, all on one time axis (zoom
and pan in the page).  Long sessions are binned to at most :data:`MAX_COLUMNS` points
(each bin's mean as the line, its range as a light band, so that short spikes stay
visible).

Python only writes the figure's data as JSON (milliseconds, no plotting library
imported); plotly.js, the bundle the ``plotly`` package ships, draws it when the page
opens.  The raster is a PNG (OpenCV's viridis) laid under the raster panel's axes.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..stats import percentile
from .data import SessionData
from .html import esc
from .metrics import DroppedFrames, flag_masks, runs
from .pictures import png

#: Most time bins drawn in a trace or the raster.
MAX_COLUMNS = 1500
FLAG_COLOURS = {
    "thin_removed": "#1f77b4", "part_missing": "#ff7f0e", "intrusion": "#d62728",
    "not_found": "#7f7f7f", "tracker_fallback": "#9467bd", "not_largest": "#8c564b",
}
TRACE_LABELS = ("speed<br>(mm/s)", "height<br>(mm)", "area<br>(mm²)", "length<br>(mm)",
                "width<br>(mm)", "heading<br>confidence")
#: Relative heights of the raster, the events row and each trace panel, and pixels per unit.
RASTER_H, EVENTS_H, TRACE_H, PX_PER_UNIT = 2.2, 0.9, 1.0, 72
DIV_ID = "timeline"


@lru_cache(maxsize=1)
def plotly_bundle() -> bytes:
    """plotly.js (minified, UTF-8) as shipped by the ``plotly`` Python package, read once.

    Raises
    ------
    ModuleNotFoundError
        If ``plotly`` is not installed (it is a dependency).
    """
    spec = importlib.util.find_spec("plotly")  # located, not imported: no Python API needed
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the QC report needs the 'plotly' package for plotly.js")
    data = (Path(spec.origin).parent / "package_data" / "plotly.min.js").read_bytes()
    return data.replace(b"</script", b"<\\/script")  # inline-safe (none in the bundle today)


def plotly_version() -> str:
    """The bundled plotly.js version (from its header comment), or '' if unknown."""
    head = plotly_bundle()[:200].decode("utf-8", "replace")
    at = head.find("plotly.js v")
    return head[at + len("plotly.js v"):].split()[0] if at >= 0 else ""


def bin_edges(n: int, max_bins: int = MAX_COLUMNS) -> np.ndarray:
    """Start indices of at most ``max_bins`` equal bins over ``n`` frames."""
    k = max(1, min(n, max_bins))
    starts = np.linspace(0, n, k + 1)[:-1].astype(np.int64)  # non-decreasing
    # unique by hand: np.unique imports numpy.ma on its first call (10 ms)
    return starts[np.concatenate(([True], np.diff(starts) > 0))]


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


def _numbers(values: np.ndarray) -> dict[str, str]:
    """An array for plotly.js as a base64 float32 typed array (``{"dtype", "bdata"}``,
    plotly.js 2.28 and later): a thousandth of the time of JSON numbers; NaN is a gap."""
    data = np.ascontiguousarray(values, dtype="<f4")
    return {"dtype": "f4", "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def decode_numbers(array: dict[str, str]) -> np.ndarray:
    """The values of a :func:`_numbers` array (float32)."""
    return np.frombuffer(base64.b64decode(array["bdata"]), "<f4")


def raster_png(spine: np.ndarray, edges: np.ndarray) -> tuple[bytes, float]:
    """The depth raster (bins across, the spine from tail (bottom) to head (top)) as a
    viridis PNG, and its colour scale's top (mm, the 99th percentile of the heights)."""
    n = len(spine)
    profile = np.add.reduceat(spine.astype(np.float64), edges, axis=0)
    profile /= np.diff(np.append(edges, n))[:, None]
    vmax = percentile(profile[profile > 0], 99) if np.any(profile > 0) else 1.0
    scaled = np.clip(profile.T[::-1] * (255.0 / max(vmax, 1e-6)), 0, 255).astype(np.uint8)
    return png(cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS)), vmax


def band_outline(x: np.ndarray, lo: np.ndarray, hi: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The band between ``lo`` and ``hi`` over ``x`` as closed outlines, one per stretch
    of finite values, separated by NaN (a fill between two lines would bridge the gaps
    where the mouse is missing).

    Returns
    -------
    (x, y) : two (m,) float64 arrays for a ``fill: "toself"`` trace.
    """
    ok = np.isfinite(lo) & np.isfinite(hi)
    gap = np.full(1, np.nan)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for a, b in runs(ok):
        xs += [x[a:b], x[a:b][::-1], gap]
        ys += [hi[a:b], lo[a:b][::-1], gap]
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def timeline_spec(data: SessionData, spine: np.ndarray, speed: np.ndarray,
                  dropped: DroppedFrames) -> dict[str, Any]:
    """The timeline as a plotly.js figure: ``{"data": [...], "layout": {...}}``.

    Parameters
    ----------
    spine : ndarray, (n, c1)
        Spine height profiles (mm; :func:`.pictures.read_crops`).
    speed : ndarray, (n,) float64, mm/s
    dropped : DroppedFrames
    """
    values = [speed, data.scalars["height_ave_mm"], data.scalars["area_mm"],
              data.scalars["length_mm"], data.scalars["width_mm"]]
    if data.heading_confidence is not None:
        values.append(data.heading_confidence)
    n = data.n_frames
    t = np.asarray(data.time_s, np.float64)
    end = float(t[-1]) if n else 1.0
    edges = bin_edges(n)
    tb = t[edges] if n else np.zeros(0)
    stretches = flag_masks(data.quality)

    # panels from the top: raster (y), events (y2), traces (y3 ...)
    heights = [RASTER_H, EVENTS_H] + [TRACE_H] * len(values)
    gap = 0.012
    total = sum(heights) + gap * (len(heights) - 1)
    top = 1.0
    domains = []
    for h in heights:
        bottom = top - h / total
        domains.append([max(bottom, 0.0), top])
        top = bottom - gap / total
    bottom_axis = f"y{len(heights)}"
    layout: dict[str, Any] = {
        "height": int(PX_PER_UNIT * sum(heights)) + 70,
        "margin": {"l": 90, "r": 15, "t": 10, "b": 45},
        "showlegend": False, "hovermode": "x",
        "xaxis": {"range": [0.0, end], "anchor": bottom_axis, "title": {"text": "time (s)"},
                  "showgrid": False, "zeroline": False},
        "plot_bgcolor": "white",
    }
    traces: list[dict[str, Any]] = []

    def axis(k: int, **extra: Any) -> None:
        name = "yaxis" if k == 1 else f"yaxis{k}"
        layout[name] = {"domain": domains[k - 1], "anchor": "x", "zeroline": False,
                        "showgrid": False, "tickfont": {"size": 10}, "nticks": 4,
                        "linecolor": "#888", "showline": True, **extra}

    # the depth raster: the spine profile per bin, laid under the panel's axes
    c1 = int(spine.shape[1]) if spine.ndim == 2 else 1
    axis(1, range=[0, c1], showticklabels=False,
         title={"text": "spine<br>(tail → head)", "font": {"size": 11}})
    if n:
        image, vmax = raster_png(spine, edges)
        layout["images"] = [{
            "source": "data:image/png;base64," + base64.b64encode(image).decode("ascii"),
            "xref": "x", "yref": "y", "x": 0.0, "y": c1, "sizex": end, "sizey": c1,
            "sizing": "stretch", "xanchor": "left", "yanchor": "top", "layer": "below"}]
        traces.append({"type": "scatter", "x": [0.0, end], "y": [0, 0], "mode": "lines",
                       "line": {"width": 0}, "hoverinfo": "skip", "yaxis": "y",
                       "name": f"raster 0–{vmax:.0f} mm"})

    # events: the quality flags (one row each) and the dropped frames, at bin resolution
    labels = []
    for name, mask in stretches.items():
        hit = np.maximum.reduceat(mask.astype(np.int8), edges) > 0
        spans = runs(hit)
        label = name.replace("_", " ")
        stops = np.append(tb, end)
        traces.append({
            "type": "bar", "orientation": "h", "yaxis": "y2", "name": label,
            "y": [label] * len(spans), "base": [float(tb[a]) for a, _ in spans],
            "x": [float(stops[b] - tb[a]) for a, b in spans],
            "marker": {"color": FLAG_COLOURS.get(name, "#000")}, "width": 0.8,
            "hovertemplate": label + " %{base:.1f}–%{x:.1f} s<extra></extra>"})
        labels.append(label)
    dropped_label = f"dropped ({dropped.total})"
    labels.append(dropped_label)
    if dropped.after.size:
        traces.append({
            "type": "scatter", "mode": "markers", "yaxis": "y2", "name": "dropped",
            "x": _numbers(t[dropped.after]), "y": [dropped_label] * int(dropped.after.size),
            "marker": {"symbol": "line-ns-open", "size": 12, "color": "#000"},
            "hovertemplate": "gap after %{x:.2f} s<extra></extra>"})
    # every row's label shows, flagged or not
    traces.append({"type": "scatter", "mode": "markers", "yaxis": "y2", "x": [0.0] * len(labels),
                   "y": labels, "marker": {"opacity": 0}, "hoverinfo": "skip"})
    axis(2, type="category", categoryorder="array", categoryarray=labels,
         range=[-0.5, len(labels) - 0.5], tickfont={"size": 9})

    # traces: the bin's range as a band, its mean as a step line
    x = _numbers(tb)
    for k, (label, trace) in enumerate(zip(TRACE_LABELS, values), start=3):
        y = f"y{k}"
        extra: dict[str, Any] = {"title": {"text": label, "font": {"size": 11}}}
        if label.startswith("heading"):
            extra["range"] = [0.45, 1.05]
        axis(k, **extra)
        if not n:
            continue
        mean, lo, hi = binned(trace, edges)
        bx, by = band_outline(tb, lo, hi)
        traces.append({"type": "scatter", "mode": "lines", "x": _numbers(bx),
                       "y": _numbers(by), "yaxis": y, "fill": "toself",
                       "fillcolor": "#9ecae1", "line": {"width": 0}, "hoverinfo": "skip"})
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": _numbers(mean),
                       "yaxis": y, "line": {"shape": "hv", "width": 1, "color": "#08519c"},
                       "name": label.replace("<br>", " ")})

    # flagged stretches shaded over the traces
    if stretches and n:
        any_flag = np.zeros(n, bool)
        for mask in stretches.values():
            any_flag |= mask
        hit = np.maximum.reduceat(any_flag.astype(np.int8), edges) > 0
        stops = np.append(tb, end)
        layout["shapes"] = [{
            "type": "rect", "xref": "x", "yref": "paper", "x0": float(tb[a]),
            "x1": float(stops[b]), "y0": 0.0, "y1": domains[2][1], "line": {"width": 0},
            "fillcolor": "#d62728", "opacity": 0.15, "layer": "below"} for a, b in runs(hit)]
    return {"data": traces, "layout": layout}


def timeline_html(data: SessionData, spine: np.ndarray, speed: np.ndarray,
                  dropped: DroppedFrames, *, caption: str) -> str:
    """The timeline's ``<figure>``: a div that plotly.js fills when the page opens (the
    page must include :func:`plotly_bundle`), with ``caption``."""
    spec = timeline_spec(data, spine, speed, dropped)
    config = {"displaylogo": False, "responsive": True}
    payload = json.dumps(spec, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (f'<figure style="display:block"><div id="{DIV_ID}" style="width:100%"></div>'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
            f"<script>(function(){{var F={payload};Plotly.newPlot({json.dumps(DIV_ID)},"
            f"F.data,F.layout,{json.dumps(config)});}})();</script>")
