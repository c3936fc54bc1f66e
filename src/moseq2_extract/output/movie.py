"""The preview movie ``results_XX.mp4`` (spec 4.18), encoded in-process with PyAV.

Each movie frame is a canvas of ``(h + c, w + c)`` pixels (padded to even sizes): the
egocentric crop (``c x c``) at the top-left corner, the thresholded heights over the ROI
bounding box (``h x w``) at the bottom-right, and the absolute frame number in white.
Heights are coloured with matplotlib's ``jet`` colormap after scaling
``clip((v - min_height) / (max_height - min_height), 0, 1)``.

How it is made fast:

* Colours go straight into the encoder's yuv420p planes (BT.601, limited range, what the
  original's ffmpeg pipe made of its RGB frames) through one lookup table per plane, and
  only where the picture changed: the crop, the part of the box where heights are not
  zero, and the frame number (:class:`PreviewCanvas`).
* The movie is encoded in independent segments of :data:`SEGMENT_FRAMES` frames, each by
  its own encoder starting with a key frame (:func:`encode_segment`), so segments can be
  encoded on several threads at once (x264 releases the GIL); :class:`PreviewWriter`
  writes their packets into one MP4 stream in order.  Segments are cut by frame count
  only, so the file does not depend on how frames were handed over or on thread counts.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..extract.frames import nonzero_rect
from ..extract.results import BoxWindows

log = logging.getLogger(__name__)

__all__ = ["SEGMENT_FRAMES", "TAIL_SEGMENTS", "EncodedSegment", "EncoderSettings",
           "PreviewCanvas", "PreviewWriter", "colorize_heights", "compose_preview",
           "compose_preview_yuv", "encode_segment", "jet_lut", "segment_plan",
           "select_codec"]

# Breakpoints (x, y) of matplotlib's "jet" colormap, per channel.
_JET_POINTS = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}
_N_COLORS = 256
_FONT = cv2.FONT_HERSHEY_SIMPLEX
SEGMENT_FRAMES = 256  # frames per independently encoded segment (one key frame each)
TAIL_SEGMENTS = 4  # the last 2 * SEGMENT_FRAMES frames of a known length, in this many


def segment_plan(total_frames: int) -> list[int]:
    """Lengths of the segments of a movie of ``total_frames`` frames.

    :data:`SEGMENT_FRAMES` each, except that the last (up to) two segments' worth of
    frames is cut into :data:`TAIL_SEGMENTS` near-equal segments: the end of a recording
    becomes ready all at once (the heading look-ahead), so its segments are what the
    workers encode after everything else, side by side.  Depends on the length only.
    """
    n = max(0, int(total_frames))
    head = max(0, n - 2 * SEGMENT_FRAMES)
    head -= head % SEGMENT_FRAMES
    plan = [SEGMENT_FRAMES] * (head // SEGMENT_FRAMES)
    tail = n - head
    parts = min(TAIL_SEGMENTS, tail)
    plan += [tail // parts + (1 if i < tail % parts else 0) for i in range(parts)]
    return plan


@lru_cache(maxsize=1)
def jet_lut() -> np.ndarray:
    """The 256 colours of ``jet`` as RGB uint8 (float colour x 255, truncated).

    Returns
    -------
    ndarray, (256, 3) uint8
    """
    x = np.linspace(0.0, 1.0, _N_COLORS)
    rgb = np.stack([np.interp(x, *zip(*_JET_POINTS[ch]))
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


def _check_range(min_height: float, max_height: float) -> tuple[float, float]:
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
    lo, hi = _check_range(min_height, max_height)
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


def _canvas_shape(box_shape: tuple[int, int], crop_size: int) -> tuple[int, int]:
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
    height, width = _canvas_shape((h, w), c)
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
        lo, hi = _check_range(min_height, max_height)
        self.box_shape = (int(box_shape[0]), int(box_shape[1]))
        self.crop_size = c = int(crop_size)
        self.height, self.width = _canvas_shape(self.box_shape, c)
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


def _box_window(box: np.ndarray | BoxWindows, i: int) -> tuple[np.ndarray, tuple[int, int]]:
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
        window, at = _box_window(box, i)
        canvas.paint(crops[i], window, index, at=at)
        out[i] = canvas.planes()
    return out


@lru_cache(maxsize=1)
def select_codec() -> str:
    """The encoder used for previews: ``libx264`` (H.264, yuv420p) if this PyAV build has
    it, else ``libopenh264``, else ``mpeg4`` (MPEG-4 part 2)."""
    available = av.codec.codecs_available
    for name in ("libx264", "libopenh264", "mpeg4"):
        if name not in available:
            continue
        try:
            av.codec.Codec(name, "w")
        except Exception:  # any failure means "not usable"
            continue
        return name
    raise RuntimeError("PyAV has no H.264 or MPEG-4 encoder")  # pragma: no cover


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that decides the encoded stream (identical for every segment).

    Attributes
    ----------
    codec : str
        Encoder name.
    width, height : int
        Picture size (even).
    rate : Fraction
        Frame rate.
    preset : str
        x264 speed preset (ignored by other encoders).
    qp : int
        x264 constant quantiser (quality; lower is better).
    """

    codec: str
    width: int
    height: int
    rate: Fraction
    preset: str = "ultrafast"
    qp: int = 18

    def configure(self, ctx: Any) -> None:
        """Set up an (unopened) encoder context; the segments' encoders and the MP4
        stream's must agree, so that their stream headers are the same."""
        ctx.width, ctx.height = self.width, self.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = 1 / self.rate
        ctx.framerate = self.rate
        ctx.gop_size = SEGMENT_FRAMES  # one key frame per segment, at its start
        ctx.thread_count = 1  # parallelism comes from encoding segments side by side
        # what cv2.COLOR_RGB2YUV_I420 produces: BT.601, limited range
        ctx.color_range = 1
        ctx.colorspace = 6
        ctx.color_primaries = 6
        ctx.color_trc = 6
        if self.codec == "libx264":
            ctx.options = {"preset": self.preset, "qp": str(self.qp)}
        else:
            ctx.bit_rate = 4_000_000

    def open_encoder(self) -> Any:
        """A new encoder context producing MP4-ready packets (stream headers out of band)."""
        ctx = av.CodecContext.create(self.codec, "w")
        self.configure(ctx)
        ctx.flags |= int(av.codec.context.Flags.global_header)
        ctx.open()
        return ctx


Piece = tuple[np.ndarray, "np.ndarray | BoxWindows", np.ndarray]  # crops, box, frame numbers


@dataclass
class EncodedSegment:
    """Output of :func:`encode_segment`, plain data (it may come from a worker process).

    Attributes
    ----------
    packets : list of (bytes, int, int, bool)
        Each packet's data, presentation and decoding time stamps (in frames from the
        segment's first frame) and key-frame flag, in decoding order.
    extradata : bytes
        The encoder's stream header (SPS/PPS for H.264).
    """

    packets: list[tuple[bytes, int, int, bool]]
    extradata: bytes


def encode_segment(settings: EncoderSettings, pieces: list[Piece], *, crop_size: int,
                   box_shape: tuple[int, int], min_height: float, max_height: float
                   ) -> EncodedSegment:
    """Paint and encode one segment with its own encoder.

    Parameters
    ----------
    settings : EncoderSettings
    pieces : list of (crops, box, frame_index)
        The segment's frames in order: crops (k, c, c), box heights ((k, h, w) array or
        :class:`~moseq2_extract.extract.results.BoxWindows`), frame numbers (k,).
    crop_size, box_shape, min_height, max_height
        As for :class:`PreviewCanvas`.

    Returns
    -------
    EncodedSegment
    """
    wide = any(max(p[0].dtype.itemsize, p[1].dtype.itemsize) > 1 for p in pieces)
    canvas = PreviewCanvas(box_shape, crop_size, min_height=min_height,
                           max_height=max_height, wide=wide)
    ctx = settings.open_encoder()
    packets: list[Any] = []
    pts = 0
    for crops, box, index in pieces:
        for i in range(len(index)):
            window, at = _box_window(box, i)
            frame = canvas.paint(crops[i], window, index[i], at=at)
            frame.pts = pts
            pts += 1
            packets.extend(ctx.encode(frame))
    packets.extend(ctx.encode(None))
    return EncodedSegment([(bytes(p), int(p.pts), int(p.dts), bool(p.is_keyframe))
                           for p in packets], bytes(ctx.extradata or b""))


class PreviewWriter:
    """Encode the preview movie chunk by chunk (context manager).

    The movie is written to ``<dir>/.<name>.partial`` and renamed to ``path`` by
    :meth:`close`; an exception inside the ``with`` block (or :meth:`abort`) deletes it.
    Frames are gathered into segments (of :data:`SEGMENT_FRAMES`, or as
    :func:`segment_plan` cuts ``total_frames``); each full segment is encoded as a task on
    ``executor`` while the caller goes on, and its packets are written to the file, in
    order, by later calls (all of them by :meth:`close`).

    Parameters
    ----------
    path : path-like
        Final ``.mp4`` path.
    fps : float
        Frame rate (frames/s).
    box_shape : (int, int)
        ``(h, w)`` of the ROI bounding box.
    crop_size : int
        Side ``c`` of the egocentric crop.
    min_height, max_height : float
        Colour scale range (mm).
    preset : str
        x264 speed preset (ignored by other encoders).  ``ultrafast`` (the default,
        Constrained Baseline profile, browser-playable) costs about 0.6 ms of CPU per
        444 x 444 frame here; ``superfast`` (High profile like the original's movies)
        about twice that.
    qp : int
        x264 constant quantiser (quality; lower is better).  A constant quantiser spares
        x264 the look-ahead analysis that a constant rate factor needs (about a fifth of
        its time); 18 gives the quality of ``crf`` 23 on these pictures (59 dB PSNR,
        1.6 kB a frame).
    background : bool
        Without ``executor``: encode on a private background thread (True) or in the
        calling thread (False).
    executor : concurrent.futures.Executor, optional
        Where segments are encoded (e.g. the pipeline's worker pool, so that several
        segments are encoded at once).  The arrays passed to :meth:`write` must not be
        modified afterwards.
    max_pending : int
        Segments queued or being encoded at most; :meth:`write` waits beyond that.
    total_frames : int, optional
        Length of the movie, when known: the last frames are then cut into smaller
        segments (:func:`segment_plan`) that several workers encode at once.
    codec : str, optional
        Force an encoder name (default: :func:`select_codec`).

    Attributes
    ----------
    codec : str
        Encoder in use.
    frame_size : (int, int)
        ``(height, width)`` of the movie.
    frames_written : int
        Frames written to the file so far.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float, box_shape: tuple[int, int],
                 crop_size: int, min_height: float, max_height: float,
                 preset: str = "ultrafast", qp: int = 18, background: bool = True,
                 executor: Executor | None = None, max_pending: int = 4,
                 total_frames: int | None = None, codec: str | None = None):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.min_height, self.max_height = _check_range(min_height, max_height)
        self.path = Path(path)
        self.partial_path = self.path.with_name(f".{self.path.name}.partial")
        self.box_shape = (int(box_shape[0]), int(box_shape[1]))
        self.crop_size = int(crop_size)
        self.frame_size = _canvas_shape(self.box_shape, self.crop_size)
        self.codec = codec or select_codec()
        self.settings = EncoderSettings(self.codec, self.frame_size[1], self.frame_size[0],
                                        Fraction(fps).limit_denominator(1001), preset,
                                        int(qp))
        self.frames_written = 0
        self._frames_submitted = 0
        self._closed = False
        self._buffer: list[Piece] = []
        self._buffered = 0
        self._plan: deque[int] = deque(segment_plan(total_frames) if total_frames else ())
        self._pending: deque[tuple[int, int, Future]] = deque()  # (first frame, n, task)
        self._max_pending = max(1, int(max_pending))
        self._own_executor: ThreadPoolExecutor | None = None
        if executor is None and background:
            executor = self._own_executor = ThreadPoolExecutor(
                1, thread_name_prefix="preview-writer")
        self._executor = executor
        self.partial_path.parent.mkdir(parents=True, exist_ok=True)
        self.partial_path.unlink(missing_ok=True)
        self._container = av.open(str(self.partial_path), "w", format="mp4")
        try:
            self._stream = self._container.add_stream(self.codec, rate=self.settings.rate)
            self.settings.configure(self._stream.codec_context)
            self._stream.time_base = 1 / self.settings.rate
        except BaseException:
            self._container.close()
            self.partial_path.unlink(missing_ok=True)
            raise

    # -- encoding --------------------------------------------------------------------

    def _submit(self, pieces: list[Piece]) -> None:
        n = sum(len(p[2]) for p in pieces)
        args = (self.settings, pieces)
        kwargs = dict(crop_size=self.crop_size, box_shape=self.box_shape,
                      min_height=self.min_height, max_height=self.max_height)
        if self._executor is None:
            future: Future = Future()
            try:
                future.set_result(encode_segment(*args, **kwargs))
            except Exception as err:  # raised when the segment is written, like a task's
                future.set_exception(err)
        else:
            future = self._executor.submit(encode_segment, *args, **kwargs)
        self._pending.append((self._frames_submitted, n, future))
        self._frames_submitted += n

    def _next_segment(self) -> int:
        return self._plan[0] if self._plan else SEGMENT_FRAMES

    def _cut(self, count: int) -> list[Piece]:
        """Take the first ``count`` buffered frames as a list of pieces."""
        out: list[Piece] = []
        while count > 0:
            crops, box, index = self._buffer[0]
            k = len(index)
            if k <= count:
                out.append(self._buffer.pop(0))
            else:
                out.append((crops[:count], box[:count], index[:count]))
                self._buffer[0] = (crops[count:], box[count:], index[count:])
                k = count
            count -= k
            self._buffered -= k
        return out

    def _mux_ready(self, *, wait: bool) -> None:
        """Write the packets of finished segments, in order (all of them if ``wait``)."""
        while self._pending and (wait or self._pending[0][2].done()
                                 or len(self._pending) > self._max_pending):
            start, n, future = self._pending.popleft()
            segment: EncodedSegment = future.result()
            time_base = 1 / self.settings.rate
            for data, pts, dts, key in segment.packets:
                packet = av.Packet(data)
                packet.pts, packet.dts = pts + start, dts + start
                packet.time_base = time_base
                packet.is_keyframe = key
                packet.stream = self._stream
                self._container.mux(packet)
            # the file's stream header (written by the stream's own encoder, opened with
            # the same settings) must be the one the segment's packets were made for
            header = bytes(self._stream.codec_context.extradata or b"")
            if header != segment.extradata:
                raise RuntimeError(f"{self.partial_path}: a movie segment was encoded with "
                                   "different stream headers")
            self.frames_written += n

    def write(self, crops: np.ndarray, box: np.ndarray | BoxWindows,
              frame_index: np.ndarray) -> None:
        """Add one chunk of frames.

        Parameters
        ----------
        crops : ndarray, (n, c, c) uint8 or uint16
            Egocentric height crops (mm).
        box : ndarray, (n, h, w) uint8 or uint16, or BoxWindows
            Heights over the ROI bounding box (mm).
        frame_index : ndarray, (n,) int
            Absolute video frame index of each frame.
        """
        if self._closed:
            raise ValueError(f"{self.partial_path}: preview writer is closed")
        crops = np.asarray(crops)
        if not isinstance(box, BoxWindows):
            box = np.asarray(box)
        frame_index = np.asarray(frame_index).reshape(-1)
        c = self.crop_size
        n = len(frame_index)
        if crops.shape != (n, c, c):
            raise ValueError(f"crops: expected shape {(n, c, c)}, got {crops.shape}")
        shape = (len(box), *box.shape) if isinstance(box, BoxWindows) else box.shape
        if shape != (n, *self.box_shape):
            raise ValueError(f"box: expected shape {(n, *self.box_shape)}, got {shape}")
        if n == 0:
            return
        self._buffer.append((crops, box, frame_index))
        self._buffered += n
        while self._buffered >= (size := self._next_segment()):
            self._submit(self._cut(size))
            if self._plan:
                self._plan.popleft()
        self._mux_ready(wait=False)

    # -- ending ----------------------------------------------------------------------

    def _drop_pending(self) -> None:
        for _, _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._buffer.clear()
        self._buffered = 0
        if self._own_executor is not None:
            self._own_executor.shutdown(wait=True, cancel_futures=True)
            self._own_executor = None

    def close(self) -> Path | None:
        """Encode what is pending, finish the file and rename it to ``path``.

        Returns
        -------
        Path or None
            ``path``, or None if no frame was written (then no file is left).
        """
        if self._closed:
            return self.path if self.path.exists() and self.frames_written else None
        try:
            if self._buffered:
                self._submit(self._cut(self._buffered))
            self._mux_ready(wait=True)
        except BaseException:
            self.abort()
            raise
        self._drop_pending()
        self._container.close()
        self._closed = True
        if not self.frames_written:
            self.partial_path.unlink(missing_ok=True)
            log.warning("%s: no frames were written; no preview movie", self.path)
            return None
        os.replace(self.partial_path, self.path)
        log.debug("wrote %s (%d frames, %s)", self.path, self.frames_written, self.codec)
        return self.path

    def abort(self) -> None:
        """Stop, close and delete the partial movie (``path`` is not touched)."""
        if self._closed:
            return
        self._closed = True
        self._drop_pending()
        with contextlib.suppress(Exception):
            self._container.close()
        self.partial_path.unlink(missing_ok=True)

    def __enter__(self) -> PreviewWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
