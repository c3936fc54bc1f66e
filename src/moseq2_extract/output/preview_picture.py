"""The preview picture (spec 4.18): colours, layout and the frame number.

Each movie frame is a canvas of ``(h + c, w + c)`` pixels (padded to even sizes): the
egocentric crop (``c x c``) at the top-left corner, the thresholded heights over the ROI
bounding box (``h x w``) at the bottom-right, and the absolute frame number in white.
Heights are coloured with matplotlib's ``jet`` colormap after scaling
``clip((v - min_height) / (max_height - min_height), 0, 1)``.

:func:`compose_preview` makes the RGB picture (the documented API);
:class:`PreviewCanvas` paints the same picture straight into an encoder's yuv420p planes
(BT.601, limited range, what the original's ffmpeg pipe made of its RGB frames) through
one lookup table per plane, and only where it changed: the crop, the part of the box where
heights are not zero, and the frame number.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import av
import cv2
import numpy as np

from ..extract.frames import nonzero_rect
from ..extract.results import BoxWindows

__all__ = ["PreviewCanvas", "box_window", "canvas_shape", "check_height_range",
           "colorize_heights", "compose_preview", "compose_preview_yuv", "jet_lut"]

# Breakpoints (x, y) of matplotlib's "jet" colormap, per channel.
_JET_POINTS = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}
_N_COLORS = 256
_FONT = cv2.FONT_HERSHEY_SIMPLEX
@lru_cache(maxsize=1)
def jet_lut() -> np.ndarray:
    """The 256 colours of ``jet`` as RGB uint8 (float colour x 255, truncated).

    Returns
    -------
    ndarray, (256, 3) uint8
    """
    x = np.linspace(0.0, 1.0, _N_COLORS)
    rgb = np.stack([np.interp(x, [p[0] for p in _JET_POINTS[ch]], [p[1] for p in _JET_POINTS[ch]])
                    for ch in ("red", "green", "blue")], axis=1)
    lut = (rgb * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


@lru_cache(maxsize=8)
def _index_table(min_height: float, max_height: float, size: int) -> np.ndarray:
    """Colour index (0..255) of every integer height ``0..size-1``, uint8."""
    v = np.arange(size, dtype=np.float64)
    scaled = np.clip((v - min_height) / (max_height - min_height), 0.0, 1.0)
    idx = np.minimum((scaled * _N_COLORS).astype(np.int64), _N_COLORS - 1).astype(np.uint8)
    idx.setflags(write=False)
    return idx


@lru_cache(maxsize=8)
def _color_table_u8(min_height: float, max_height: float) -> np.ndarray:
    """(256, 1, 3) uint8 table: uint8 height -> RGB (for ``cv2.applyColorMap``)."""
    table = jet_lut()[_index_table(min_height, max_height, 256)]
    return np.ascontiguousarray(table.reshape(256, 1, 3))


def check_height_range(min_height: float, max_height: float) -> tuple[float, float]:
    lo, hi = float(min_height), float(max_height)
    if not hi > lo:
        raise ValueError(f"max_height ({max_height}) must be above min_height ({min_height})")
    return lo, hi


def colorize_heights(values: np.ndarray, *, min_height: float,
                     max_height: float) -> np.ndarray:
    """Colour heights with ``jet`` after scaling to ``[min_height, max_height]``.

    Parameters
    ----------
    values : ndarray, (..., w)
        Heights in mm (uint8, uint16 or any real dtype); at least 2-D.
    min_height, max_height : float
        Heights mapped to the first and last colour (mm).

    Returns
    -------
    ndarray, (..., w, 3) uint8
        RGB colours.
    """
    lo, hi = check_height_range(min_height, max_height)
    values = np.asarray(values)
    if values.ndim < 2:
        raise ValueError(f"values must be at least 2-D, got shape {values.shape}")
    flat = np.ascontiguousarray(values).reshape(-1, values.shape[-1])
    if flat.size == 0:
        return np.zeros((*values.shape, 3), np.uint8)
    if flat.dtype == np.uint8:
        rgb = cv2.applyColorMap(flat, _color_table_u8(lo, hi))
    else:
        if flat.dtype == np.uint16:
            idx = np.take(_index_table(lo, hi, 65536), flat)
        else:
            scaled = np.clip((flat.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
            scaled = np.nan_to_num(scaled, nan=0.0)
            idx = np.minimum((scaled * _N_COLORS).astype(np.int64),
                             _N_COLORS - 1).astype(np.uint8)
        rgb = cv2.applyColorMap(idx, np.ascontiguousarray(jet_lut().reshape(256, 1, 3)))
    return rgb.reshape(*values.shape, 3)


def canvas_shape(box_shape: tuple[int, int], crop_size: int) -> tuple[int, int]:
    h, w = box_shape[0] + crop_size, box_shape[1] + crop_size
    return h + (h % 2), w + (w % 2)


def compose_preview(crops: np.ndarray, box: np.ndarray, frame_index: np.ndarray, *,
                    min_height: float, max_height: float) -> np.ndarray:
    """Compose preview frames (RGB) for a batch.

    Parameters
    ----------
    crops : ndarray, (n, c, c)
        Egocentric height crops (mm).
    box : ndarray, (n, h, w)
        Heights over the ROI bounding box (mm).
    frame_index : ndarray, (n,) int
        Absolute video frame index of each frame (drawn on the frame).
    min_height, max_height : float
        Colour scale range (mm).

    Returns
    -------
    ndarray, (n, H, W, 3) uint8
        ``H = h + c``, ``W = w + c``, each rounded up to even: crop at the top-left,
        box at ``[c:c + h, c:c + w]``, everything else the colour of height 0.
    """
    crops = np.asarray(crops)
    box = np.asarray(box)
    frame_index = np.asarray(frame_index).reshape(-1)
    n, c = crops.shape[0], crops.shape[1]
    if crops.ndim != 3 or crops.shape[2] != c:
        raise ValueError(f"crops must be (n, c, c), got {crops.shape}")
    if box.ndim != 3 or box.shape[0] != n or len(frame_index) != n:
        raise ValueError(f"crops {crops.shape}, box {box.shape} and frame_index "
                         f"{frame_index.shape} must have the same length")
    h, w = box.shape[1:]
    height, width = canvas_shape((h, w), c)
    out = np.empty((n, height, width, 3), np.uint8)
    # the colour of height 0 everywhere (broadcast of a whole frame: a plain copy)
    out[:] = colorize_heights(np.zeros((height, width), np.uint8), min_height=min_height,
                              max_height=max_height)
    out[:, :c, :c] = colorize_heights(crops, min_height=min_height, max_height=max_height)
    out[:, c:c + h, c:c + w] = colorize_heights(box, min_height=min_height,
                                               max_height=max_height)
    org = (5, max(20, min(width - 40, height - 10)))
    for frame, index in zip(out, frame_index):
        cv2.putText(frame, str(int(index)), org, _FONT, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
    return out


@lru_cache(maxsize=8)
def _yuv_tables(min_height: float, max_height: float, size: int) -> np.ndarray:
    """(3, size) uint8: height -> Y, U, V of its jet colour, exactly as OpenCV's I420.

    Each of the 256 colours is converted once as a 2 x 2 block with ``cv2.cvtColor``.
    """
    rgb = jet_lut()
    blocks = np.repeat(np.repeat(rgb[None], 2, axis=0), 2, axis=1)  # (2, 512, 3)
    i420 = cv2.cvtColor(np.ascontiguousarray(blocks), cv2.COLOR_RGB2YUV_I420)
    y = i420[0, ::2]
    chroma = i420[2:].reshape(-1)
    u, v = chroma[:_N_COLORS], chroma[_N_COLORS:]
    per_colour = np.stack([y, u, v])  # (3, 256)
    out = np.ascontiguousarray(per_colour[:, _index_table(min_height, max_height, size)])
    out.setflags(write=False)
    return out


def _text_origin(height: int, width: int) -> tuple[int, int]:
    return 5, max(20, min(width - 40, height - 10))


def _plane_view(plane: Any) -> np.ndarray:
    """Writable (height, width) uint8 view of one plane of an ``av.VideoFrame``."""
    flat = np.frombuffer(plane, np.uint8)
    return flat.reshape(plane.height, plane.line_size)[:, :plane.width]


class PreviewCanvas:
    """One preview picture in yuv420p, repainted in place frame after frame.

    The picture is the same as :func:`compose_preview` converted with
    ``cv2.COLOR_RGB2YUV_I420`` (chroma sampled at the top-left pixel of each 2 x 2 block),
    except inside the frame number, which is white with neutral chroma.  Only what can
    change is painted: the crop, the rectangle of the box where heights are not zero, and
    the frame number; what the previous frame painted there is reset first.

    Parameters
    ----------
    box_shape : (int, int)
        ``(h, w)`` of the ROI box.
    crop_size : int
    min_height, max_height : float
        Colour scale range (mm).
    wide : bool
        Heights are uint16 (else uint8).

    Attributes
    ----------
    frame : av.VideoFrame
        The picture (yuv420p), owned by the canvas: encode it before the next :meth:`paint`.
    """

    def __init__(self, box_shape: tuple[int, int], crop_size: int, *, min_height: float,
                 max_height: float, wide: bool = False):
        lo, hi = check_height_range(min_height, max_height)
        self.box_shape = (int(box_shape[0]), int(box_shape[1]))
        self.crop_size = c = int(crop_size)
        self.height, self.width = canvas_shape(self.box_shape, c)
        self.frame = av.VideoFrame(self.width, self.height, "yuv420p")
        self._planes = [_plane_view(p) for p in self.frame.planes]
        self._tables = _yuv_tables(lo, hi, 256)
        self._index = _index_table(lo, hi, 65536) if wide else None
        self._base = [int(t[0]) for t in self._tables]  # colour of height 0
        for plane, value in zip(self._planes, self._base):
            plane[:] = value
        self._dirty: list[tuple[int, int, int, int]] = []  # luma rects (y0, y1, x0, x1)
        self._org = _text_origin(self.height, self.width)

    def _reset(self, y0: int, y1: int, x0: int, x1: int) -> None:
        luma, u, v = self._planes
        luma[y0:y1, x0:x1] = self._base[0]
        cy, cx = slice((y0 + 1) // 2, (y1 + 1) // 2), slice((x0 + 1) // 2, (x1 + 1) // 2)
        u[cy, cx] = self._base[1]
        v[cy, cx] = self._base[2]

    def _paint(self, values: np.ndarray, top: int, left: int) -> None:
        """Colour ``values`` (2-D heights) into the picture at ``(top, left)``."""
        if self._index is not None:
            values = self._index[values]
        h, w = values.shape
        luma, u, v = self._planes
        ty, tu, tv = self._tables
        cv2.LUT(values, ty, dst=luma[top:top + h, left:left + w])
        # chroma cell (i, j) shows the picture's pixel (2i, 2j)
        i0, i1 = (top + 1) // 2, (top + h + 1) // 2
        j0, j1 = (left + 1) // 2, (left + w + 1) // 2
        if i1 <= i0 or j1 <= j0:
            return
        sub = np.ascontiguousarray(values[2 * i0 - top::2, 2 * j0 - left::2])
        cv2.LUT(sub, tu, dst=u[i0:i1, j0:j1])
        cv2.LUT(sub, tv, dst=v[i0:i1, j0:j1])

    def _text(self, index: int) -> tuple[int, int, int, int]:
        """Draw the frame number; returns its luma rectangle."""
        text = str(int(index))
        org = self._org
        (tw, th), base = cv2.getTextSize(text, _FONT, 1.0, 2)
        # the patch starts on even coordinates, so that its chroma samples line up
        y0, x0 = max(0, org[1] - th - 2) & ~1, org[0] & ~1
        y1, x1 = min(self.height, org[1] + base + 2), min(self.width, org[0] + tw + 2)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.putText(mask, text, (org[0] - x0, org[1] - y0), _FONT, 1.0, 255, 2, cv2.LINE_AA)
        luma = self._planes[0][y0:y1, x0:x1]
        np.maximum(luma, mask, out=luma)
        chroma_mask = mask[::2, ::2] > 127
        for plane in self._planes[1:]:
            region = plane[y0 // 2:y0 // 2 + chroma_mask.shape[0],
                           x0 // 2:x0 // 2 + chroma_mask.shape[1]]
            region[chroma_mask[: region.shape[0], : region.shape[1]]] = 128
        return y0, y1, x0, x1

    def paint(self, crop: np.ndarray, window: np.ndarray, index: int, *,
              at: tuple[int, int] = (0, 0)) -> av.VideoFrame:
        """Paint the next picture and return :attr:`frame`.

        Parameters
        ----------
        crop : ndarray, (c, c)
            Egocentric heights (mm).
        window : ndarray, (k, l)
            Heights (mm) of the part of the ROI box at ``at``; the rest of the box is zero.
            The whole box (``at=(0, 0)``) is fine too.
        index : int
            Frame number to draw.
        at : (x, y)
            Position of ``window`` in the box.
        """
        for dirty in self._dirty:
            self._reset(*dirty)
        c = self.crop_size
        self._paint(crop, 0, 0)
        self._dirty = []
        h, w = window.shape
        if h > 0 and w > 0:
            top, left = c + int(at[1]), c + int(at[0])
            self._paint(window, top, left)
            self._dirty.append((top, top + h, left, left + w))
        self._dirty.append(self._text(index))
        return self.frame

    def planes(self) -> np.ndarray:
        """A copy of the picture as one (3H/2, W) I420 array."""
        luma, u, v = self._planes
        return np.concatenate([luma, u.reshape(-1, self.width), v.reshape(-1, self.width)])


def box_window(box: np.ndarray | BoxWindows, i: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Frame ``i``'s rectangle of non-zero heights and its position ``(x, y)``."""
    if isinstance(box, BoxWindows):
        x, y = (int(v) for v in box.rects[i, :2])
        return box.windows[i], (x, y)
    frame = box[i]
    x, y, w, h = nonzero_rect(frame)
    return frame[y:y + h, x:x + w], (x, y)


def compose_preview_yuv(crops: np.ndarray, box: np.ndarray, frame_index: np.ndarray, *,
                        min_height: float, max_height: float) -> np.ndarray:
    """Compose preview frames as I420 (yuv420p) arrays (see :class:`PreviewCanvas`).

    Returns
    -------
    ndarray, (n, 3 * H // 2, W) uint8
        I420 frames for ``av.VideoFrame.from_ndarray(..., format="yuv420p")``.
    """
    crops, box = np.asarray(crops), np.asarray(box)
    frame_index = np.asarray(frame_index).reshape(-1)
    wide = max(crops.dtype.itemsize, box.dtype.itemsize) > 1
    canvas = PreviewCanvas(box.shape[1:], crops.shape[1], min_height=min_height,
                           max_height=max_height, wide=wide)
    out = np.empty((len(frame_index), canvas.height * 3 // 2, canvas.width), np.uint8)
    for i, index in enumerate(frame_index):
        window, at = box_window(box, i)
        canvas.paint(crops[i], window, index, at=at)
        out[i] = canvas.planes()
    return out
