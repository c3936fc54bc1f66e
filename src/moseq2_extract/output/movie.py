"""The preview movie ``results_XX.mp4`` (spec 4.18), encoded in-process with PyAV.

Each movie frame is a canvas of ``(h + c, w + c)`` pixels (padded to even sizes): the
egocentric crop (``c x c``) at the top-left corner, the thresholded heights over the ROI
bounding box (``h x w``) at the bottom-right, and the absolute frame number in white.
Heights are coloured with matplotlib's ``jet`` colormap after scaling
``clip((v - min_height) / (max_height - min_height), 0, 1)``.

Colouring is a table lookup done once per sub-batch of frames (OpenCV, releases the GIL);
RGB is converted to yuv420p with OpenCV (BT.601, limited range, as the original's ffmpeg
pipe did) so the encoder gets frames it needs no conversion for.  By default a background
thread composes and encodes while the caller extracts the next chunk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

__all__ = ["PreviewWriter", "colorize_heights", "compose_preview", "jet_lut",
           "select_codec"]

# Breakpoints (x, y) of matplotlib's "jet" colormap, per channel.
_JET_POINTS = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}
_N_COLORS = 256
_SUB_BATCH = 32  # frames coloured and converted at once (bounded memory)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


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


def compose_preview_yuv(crops: np.ndarray, box: np.ndarray, frame_index: np.ndarray, *,
                        min_height: float, max_height: float) -> np.ndarray:
    """Compose preview frames directly as I420 (yuv420p), without an RGB detour.

    Same picture as :func:`compose_preview` (chroma sampled at the top-left pixel of each
    2 x 2 block), at a fraction of the cost: heights go through one lookup table per plane.

    Returns
    -------
    ndarray, (n, 3 * H // 2, W) uint8
        I420 frames for ``av.VideoFrame.from_ndarray(..., format="yuv420p")``.
    """
    lo, hi = _check_range(min_height, max_height)
    crops = np.asarray(crops)
    box = np.asarray(box)
    frame_index = np.asarray(frame_index).reshape(-1)
    n, c = crops.shape[0], crops.shape[1]
    h, w = box.shape[1:]
    height, width = _canvas_shape((h, w), c)
    size = 65536 if max(crops.dtype.itemsize, box.dtype.itemsize) > 1 else 256
    dtype = np.uint16 if size > 256 else np.uint8
    canvas = np.zeros((n, height, width), dtype)
    canvas[:, :c, :c] = crops
    canvas[:, c:c + h, c:c + w] = box
    tables = _yuv_tables(lo, hi, size)
    out = np.empty((n, height * 3 // 2, width), np.uint8)
    hh, hw = height // 2, width // 2
    if size > 256:  # uint16 heights: one table lookup to colour indices first
        canvas = _index_table(lo, hi, size)[canvas]
        tables = _yuv_tables(lo, hi, 256)
    sub = np.ascontiguousarray(canvas[:, ::2, ::2]).reshape(n * hh, hw)
    out[:, :height] = cv2.LUT(canvas.reshape(n * height, width), tables[0]).reshape(
        n, height, width)
    chroma = out[:, height:].reshape(n, 2, hh * hw)
    chroma[:, 0] = cv2.LUT(sub, tables[1]).reshape(n, hh * hw)
    chroma[:, 1] = cv2.LUT(sub, tables[2]).reshape(n, hh * hw)
    org = (5, max(20, min(width - 40, height - 10)))
    for frame, index in zip(out, frame_index):
        # white text: full luma, neutral chroma; the patch starts on even coordinates so
        # that its chroma samples line up with every other luma pixel
        text = str(int(index))
        (tw, th), base = cv2.getTextSize(text, _FONT, 1.0, 2)
        y0, x0 = max(0, org[1] - th - 2) & ~1, org[0] & ~1
        y1, x1 = min(height, org[1] + base + 2), min(width, org[0] + tw + 2)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.putText(mask, text, (org[0] - x0, org[1] - y0), _FONT, 1.0, 255, 2, cv2.LINE_AA)
        luma = frame[:height]
        luma[y0:y1, x0:x1] = np.maximum(luma[y0:y1, x0:x1], mask)
        chroma_mask = mask[::2, ::2] > 127
        planes = frame[height:].reshape(2, hh, hw)
        for plane in planes:
            region = plane[y0 // 2:y0 // 2 + chroma_mask.shape[0],
                           x0 // 2:x0 // 2 + chroma_mask.shape[1]]
            region[chroma_mask[: region.shape[0], : region.shape[1]]] = 128
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


class PreviewWriter:
    """Encode the preview movie chunk by chunk (context manager).

    The movie is written to ``<dir>/.<name>.partial`` and renamed to ``path`` by
    :meth:`close`; an exception inside the ``with`` block (or :meth:`abort`) deletes it.

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
    threads : int
        Encoder threads (0 = automatic).  One is the default: x264's own threading costs
        more CPU than it saves on a machine whose other cores extract frames.
    preset : str
        x264 speed preset (ignored by other encoders).  Measured for a 428 x 426 preview of
        a real extraction (colouring included, one core): ``ultrafast`` (the default,
        Constrained Baseline profile, browser-playable) about 1.0 ms of CPU per frame and
        1.7 kB/frame; ``superfast`` (High profile like the original's movies) 1.7 ms and
        0.9 kB/frame.
    crf : int
        x264 constant rate factor (quality; lower is better).
    background : bool
        Compose and encode in a background thread, so :meth:`write` returns while the
        previous chunk is still being encoded (at most one chunk waits).  The arrays
        passed to :meth:`write` must not be modified afterwards.
    codec : str, optional
        Force an encoder name (default: :func:`select_codec`).

    Attributes
    ----------
    codec : str
        Encoder in use.
    frame_size : (int, int)
        ``(height, width)`` of the movie.
    frames_written : int
        Frames encoded so far.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float, box_shape: tuple[int, int],
                 crop_size: int, min_height: float, max_height: float, threads: int = 1,
                 preset: str = "ultrafast", crf: int = 23, background: bool = True,
                 codec: str | None = None):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.min_height, self.max_height = _check_range(min_height, max_height)
        self.path = Path(path)
        self.partial_path = self.path.with_name(f".{self.path.name}.partial")
        self.box_shape = (int(box_shape[0]), int(box_shape[1]))
        self.crop_size = int(crop_size)
        self.frame_size = _canvas_shape(self.box_shape, self.crop_size)
        self.codec = codec or select_codec()
        self.frames_written = 0
        self._closed = False
        self._aborting = False
        self._error: BaseException | None = None
        self.partial_path.parent.mkdir(parents=True, exist_ok=True)
        self.partial_path.unlink(missing_ok=True)
        self._container = av.open(str(self.partial_path), "w", format="mp4")
        try:
            self._stream = self._open_stream(fps, threads, preset, crf)
        except BaseException:
            self._container.close()
            self.partial_path.unlink(missing_ok=True)
            raise
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=1)
            self._thread = threading.Thread(target=self._work, name="preview-writer",
                                            daemon=True)
            self._thread.start()

    def _open_stream(self, fps: float, threads: int, preset: str, crf: int) -> Any:
        rate = Fraction(fps).limit_denominator(1001)
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.height, stream.width = self.frame_size
        stream.pix_fmt = "yuv420p"
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        ctx.thread_count = int(threads)
        # what cv2.COLOR_RGB2YUV_I420 produces: BT.601, limited range
        ctx.color_range = 1
        ctx.colorspace = 6
        ctx.color_primaries = 6
        ctx.color_trc = 6
        if self.codec == "libx264":
            stream.options = {"preset": preset, "crf": str(crf)}
        else:
            stream.bit_rate = 4_000_000
        return stream

    # -- encoding --------------------------------------------------------------------

    def _compose(self, crops: np.ndarray, box: np.ndarray, frame_index: np.ndarray
                 ) -> np.ndarray:
        return compose_preview_yuv(crops, box, frame_index, min_height=self.min_height,
                                   max_height=self.max_height)

    def _encode(self, crops: np.ndarray, box: np.ndarray, frame_index: np.ndarray) -> None:
        # colour the next sub-batch on a helper thread while this one is encoded (both
        # release the GIL), so the encoder is the only serial step
        batches = [slice(s, s + _SUB_BATCH) for s in range(0, len(frame_index), _SUB_BATCH)]
        with ThreadPoolExecutor(1) as composer:
            pending = composer.submit(self._compose, crops[batches[0]], box[batches[0]],
                                      frame_index[batches[0]]) if batches else None
            for k in range(len(batches)):
                frames = pending.result()
                if k + 1 < len(batches):
                    nxt = batches[k + 1]
                    pending = composer.submit(self._compose, crops[nxt], box[nxt],
                                              frame_index[nxt])
                for image in frames:
                    frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
                    frame.pts = self.frames_written
                    for packet in self._stream.encode(frame):
                        self._container.mux(packet)
                    self.frames_written += 1

    def _work(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None or self._aborting:
                continue  # drain after a failure or an abort
            try:
                self._encode(*item)
            except BaseException as err:  # re-raised in the caller's thread
                self._error = err

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, crops: np.ndarray, box: np.ndarray, frame_index: np.ndarray) -> None:
        """Add one chunk of frames.

        Parameters
        ----------
        crops : ndarray, (n, c, c) uint8 or uint16
            Egocentric height crops (mm).
        box : ndarray, (n, h, w) uint8 or uint16
            Heights over the ROI bounding box (mm).
        frame_index : ndarray, (n,) int
            Absolute video frame index of each frame.
        """
        if self._closed:
            raise ValueError(f"{self.partial_path}: preview writer is closed")
        self._raise_error()
        crops = np.asarray(crops)
        box = np.asarray(box)
        frame_index = np.asarray(frame_index).reshape(-1)
        c = self.crop_size
        n = len(frame_index)
        if crops.shape != (n, c, c):
            raise ValueError(f"crops: expected shape {(n, c, c)}, got {crops.shape}")
        if box.shape != (n, *self.box_shape):
            raise ValueError(f"box: expected shape {(n, *self.box_shape)}, got {box.shape}")
        if n == 0:
            return
        if self._queue is None:
            self._encode(crops, box, frame_index)
            return
        while True:
            try:
                self._queue.put((crops, box, frame_index), timeout=0.5)
                break
            except queue.Full:
                self._raise_error()
        self._raise_error()

    # -- ending ----------------------------------------------------------------------

    def _stop_thread(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def close(self) -> Path | None:
        """Encode what is pending, finish the file and rename it to ``path``.

        Returns
        -------
        Path or None
            ``path``, or None if no frame was written (then no file is left).
        """
        if self._closed:
            return self.path if self.path.exists() and self.frames_written else None
        self._stop_thread()
        try:
            self._raise_error()
            if self.frames_written:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
        except BaseException:
            self.abort()
            raise
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
        self._aborting = True
        self._stop_thread()
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
