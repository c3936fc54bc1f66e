"""The report's HTML: self-contained pages (styles, script and images inline; nothing is
fetched), so a page opens offline by double-click and can be mailed as one file."""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .metrics import SessionSummary

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.2em 2em;
color:#222;max-width:1400px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:.88em}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
table.data td.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th.asc::after{content:" \\25B2"}table.sortable th.desc::after{content:" \\25BC"}
tr.outlier{background:#fde8e8}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}
.badges span{display:inline-block;margin:0 .6em .4em 0;padding:.25em .6em;border-radius:4px;
background:#eef3f8}
.badges span.bad{background:#fde8e8}
figure{margin:.6em 0;display:inline-block;vertical-align:top}
figcaption{font-size:.85em;color:#555;max-width:900px}
img{max-width:100%;height:auto;image-rendering:auto}
details{margin:.4em 0}summary{cursor:pointer;font-weight:600}
.note{color:#666;font-size:.9em}
"""

#: Sorts a table.sortable by the clicked column (numbers by ``data-v``, text otherwise).
SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.querySelectorAll('thead th');
  heads.forEach(function (th, col) {
    th.addEventListener('click', function () {
      var asc = !th.classList.contains('asc');
      heads.forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        if (x === null) { x = a.cells[col].textContent; y = b.cells[col].textContent; }
        var nx = parseFloat(x), ny = parseFloat(y), r;
        if (!isNaN(nx) && !isNaN(ny)) { r = nx - ny; }
        else if (!isNaN(nx)) { r = -1; } else if (!isNaN(ny)) { r = 1; }
        else { r = x.localeCompare(y); }
        return asc ? r : -r;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def esc(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Picture:
    """An image of a page: its encoded bytes (``mime``: PNG or JPEG), pixel size and
    caption."""

    data: bytes
    width: int
    height: int
    caption: str
    alt: str
    mime: str = "image/png"


def img_tag(picture: Picture, *, display_width: int | None = None) -> str:
    """An ``<img>`` with the PNG inline as a data URI."""
    data = base64.b64encode(picture.data).decode("ascii")
    width = display_width or picture.width
    height = round(picture.height * width / max(picture.width, 1))
    return (f'<img src="data:{picture.mime};base64,{data}" width="{width}" height="{height}" '
            f'alt="{esc(picture.alt)}">')


def figure(picture: Picture, *, display_width: int | None = None) -> str:
    return (f"<figure>{img_tag(picture, display_width=display_width)}"
            f"<figcaption>{esc(picture.caption)}</figcaption></figure>")


def page(title: str, body: str) -> str:
    """A whole HTML document."""
    return b"".join(page_chunks(title, body)).decode("utf-8")


def page_chunks(title: str, body: str, *, head_scripts: Sequence[bytes] = ()) -> list[bytes]:
    """A whole HTML document as UTF-8 chunks to write one after the other;
    ``head_scripts`` (UTF-8 JavaScript sources, e.g. a library's bundle) are inlined in
    its head, before the body's own scripts run, without being copied into the text."""
    head = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style>\n")
    tail = f"</head>\n<body>\n{body}\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    chunks = [head.encode("utf-8")]
    for js in head_scripts:
        chunks += [b"<script>", js, b"</script>\n"]
    chunks.append(tail.encode("utf-8"))
    return chunks


def key_value_table(items: Iterable[tuple[str, Any]], *, cls: str = "kv") -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_plain(v))}</td></tr>" for k, v in items)
    return f'<table class="{cls}">{rows}</table>'


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return fmt(value, 6)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return "null" if value is None else str(value)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table: ``digits`` significant digits, "—" for None / NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


def data_table(header: Sequence[str], rows: Iterable[Sequence[str]], *,
               sortable: bool = False, row_classes: Sequence[str] | None = None,
               table_id: str | None = None) -> str:
    """A table whose cells are already HTML (``<td>`` elements included)."""
    cls = "data sortable" if sortable else "data"
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{rc}>{''.join(row)}</tr>")
    return (f'<table class="{cls}"{ident}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def num_cell(value: float | None, digits: int = 3, *, suffix: str = "") -> str:
    """A right-aligned numeric cell sorted by its value (empty values sort last)."""
    v = "" if value is None or not math.isfinite(value) else repr(float(value))
    shown = fmt(value, digits)
    return f'<td class="num" data-v="{v}">{esc(shown)}{esc(suffix) if v else ""}</td>'


def text_cell(text: str, *, html_text: str | None = None) -> str:
    return f"<td>{html_text if html_text is not None else esc(text)}</td>"


def relative_href(target: Path, start: Path) -> str:
    """``target`` relative to the folder ``start`` as a URL path."""
    rel = os.path.relpath(target, start)
    return "/".join(esc(part) for part in Path(rel).parts)


def batch_table(rows: Sequence[SessionSummary], index_dir: Path) -> str:
    """The index's sortable table, one row per session, outliers marked."""
    header = ["session", "subject", "frames", "duration (s)", "dropped (%)",
              "speed (mm/s)", "area (mm²)", "height (mm)", "mouse missing (%)",
              "flagged (%)", "heading confidence", "extraction (s)", "outlier"]
    cells = []
    classes = []
    for r in rows:
        link = (f'<a href="{relative_href(r.report, index_dir)}">{esc(r.name)}</a>'
                if r.report is not None else esc(r.name))
        reasons = "; ".join(r.outliers)
        cells.append([
            text_cell(r.name, html_text=link),
            text_cell(r.subject),
            num_cell(float(r.n_frames), 9),
            num_cell(r.duration_s, 4),
            num_cell(r.dropped_pct, 3),
            num_cell(r.speed_mm_s, 3),
            num_cell(r.area_mm2, 4),
            num_cell(r.height_mm, 3),
            num_cell(r.missing_pct, 3),
            num_cell(r.flagged_pct, 3),
            num_cell(r.heading_confidence, 3),
            num_cell(r.seconds, 3),
            f'<td data-v="{len(r.outliers)}" class="{"bad" if reasons else "ok"}">'
            f'{esc(reasons) if reasons else "no"}</td>',
        ])
        classes.append("outlier" if r.outliers else "")
    return data_table(header, cells, sortable=True, row_classes=classes,
                      table_id="sessions")
