"""The report's pictures, drawn with OpenCV on the depth images themselves.

* :func:`read_crops`: the spine's height profile of every frame (the depth raster, stored
  by the extraction, else from one pass over the crops), a sample of crops for the
  montage and a few crops with their masks for the frame panels;
* :func:`arena_picture`: the background with the ROI outlined and the centroid's path;
* :func:`frame_pictures`: a few frames (the recording's own when it can be read, else the
  background with the crop put back) with the mouse's outline and heading arrow;
* :func:`montage_picture`: crops sampled through the session (heads should point east).

Every function returns an 8-bit BGR image; :func:`jpeg` (the pages' pictures) and
:func:`png` (the raster, which must stay exact) encode one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import h5py
import numpy as np

from ..extract.crop import crop_transform, spine_profile
from ..output.h5skeleton import read_rows
from ..stats import percentile
from .data import SessionData

log = logging.getLogger(__name__)

#: Frames read per h5 slab (a multiple of the files' 32-frame chunks).
READ_BLOCK = 1024
#: Where the extraction stores every frame's spine profile.
SPINE_DATASET = "metadata/extraction/spine"
ROI_COLOUR = (60, 60, 255)  # BGR red
OUTLINE_COLOUR = (255, 255, 255)
ARROW_COLOUR = (0, 215, 255)  # BGR amber


@dataclass
class CropSample:
    """What :func:`read_crops` keeps of the crops.

    Attributes
    ----------
    spine : ndarray, (n, c1) float32
        Height (mm) along the crop's centre rows, per frame: the mouse's spine, head on the
        right when the heading is right.
    montage_idx : ndarray, (k,) int64
    montage : ndarray, (k, c0, c1) uint8 / uint16
    frame_idx : ndarray, (m,) int64
    frames : ndarray, (m, c0, c1)
    masks : ndarray, (m, c0, c1) bool
    """

    spine: np.ndarray
    montage_idx: np.ndarray
    montage: np.ndarray
    frame_idx: np.ndarray
    frames: np.ndarray
    masks: np.ndarray


def sample_indices(valid: np.ndarray, k: int) -> np.ndarray:
    """``k`` frame indices spread evenly through the frames where ``valid`` ((n,) bool) is
    true (all frames when none is)."""
    candidates = np.flatnonzero(valid)
    if candidates.size == 0:
        candidates = np.arange(valid.size)
    if candidates.size <= k:
        return candidates.astype(np.int64)
    pos = np.linspace(0, candidates.size - 1, k + 2)[1:-1]
    return candidates[np.rint(pos).astype(np.int64)]


def read_crops(data: SessionData, *, n_montage: int = 48, n_frames: int = 4) -> CropSample:
    """The spine profiles of every frame and the sampled crops of ``data.h5_path``.

    The profiles come from ``metadata/extraction/spine`` where the extraction wrote it (then
    only the sampled crops are read); otherwise from one pass over every crop, in blocks
    of :data:`READ_BLOCK` frames.
    """
    n = data.n_frames
    c0, c1 = data.crop_shape
    valid = np.isfinite(data.scalars["centroid_x_px"])
    montage_idx = sample_indices(valid, n_montage)
    frame_idx = sample_indices(valid, n_frames)
    with h5py.File(data.h5_path, "r") as f:
        frames = f["frames"]
        stored = f.get(SPINE_DATASET)
        if stored is not None and stored.shape == (n, c1):
            spine = stored[()].astype(np.float32)
            wanted = np.array(sorted({*montage_idx.tolist(), *frame_idx.tolist()}), np.int64)
            crops = read_rows(frames, wanted)
            montage = crops[np.searchsorted(wanted, montage_idx)]
            picked = crops[np.searchsorted(wanted, frame_idx)]
        else:
            spine = np.zeros((n, c1), np.float32)
            montage = np.zeros((montage_idx.size, c0, c1), frames.dtype)
            picked = np.zeros((frame_idx.size, c0, c1), frames.dtype)
            for a in range(0, n, READ_BLOCK):
                b = min(n, a + READ_BLOCK)
                block = frames[a:b]
                spine[a:b] = spine_profile(block)
                sel = (montage_idx >= a) & (montage_idx < b)
                montage[sel] = block[montage_idx[sel] - a]
                sel = (frame_idx >= a) & (frame_idx < b)
                picked[sel] = block[frame_idx[sel] - a]
        mask_ds = f.get("frames_mask", None)
        if mask_ds is not None and mask_ds.dtype == bool and mask_ds.shape[1:] == (c0, c1):
            masks = read_rows(mask_ds, frame_idx)
        else:
            masks = picked > 0
    return CropSample(spine, montage_idx, montage, frame_idx, picked, masks)


def png(image: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit image."""
    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit image
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


#: JPEG quality of the report's pictures.
JPEG_QUALITY = 92


def jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of an 8-bit image (quality :data:`JPEG_QUALITY`)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit image
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def colourize(heights: np.ndarray, vmax: float, *, cmap: int = cv2.COLORMAP_VIRIDIS
              ) -> np.ndarray:
    """Heights (mm) mapped 0..``vmax`` through an OpenCV colour map; 0 stays black."""
    h = np.asarray(heights)
    # heights are >= 0: OpenCV's saturating scale (rounded) is the clipped scale
    scaled = cv2.convertScaleAbs(h, alpha=255.0 / max(vmax, 1e-6))
    out = cv2.applyColorMap(scaled, cmap)
    out[h <= 0] = 0
    return out


def _grey_depth(depth: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """A depth image as 8-bit grey, contrast stretched over the ROI's range (near = bright)."""
    d = np.asarray(depth, np.float32)
    inside = d[roi & (d > 0)][::7]  # every 7th pixel: the same range, a seventh of the time
    lo, hi = ((percentile(inside, 1), percentile(inside, 99)) if inside.size else (0.0, 1.0))
    lo, hi = lo - 60.0, hi + 20.0  # leave room for a mouse above the floor
    scale = 255.0 / max(hi - lo, 1e-6)
    g = np.clip((hi - d) * np.float32(scale), 0, 255).astype(np.uint8)
    g[d <= 0] = 0
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def _roi_contours(roi: np.ndarray) -> list[np.ndarray]:
    contours, _ = cv2.findContours(roi.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return list(contours)


def _label(image: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.4) -> None:
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)


def arena_picture(data: SessionData) -> np.ndarray:
    """The background (grey, near = bright) with the ROI outlined in red."""
    image = _grey_depth(data.background, data.roi)
    cv2.drawContours(image, _roi_contours(data.roi), -1, ROI_COLOUR, 2, cv2.LINE_AA)
    return image


def path_picture(data: SessionData, *, scale: int = 2) -> np.ndarray:
    """The centroid's path over the ROI box, coloured by time (dark blue -> yellow)."""
    ys, xs = np.nonzero(data.roi)
    if xs.size == 0:
        return np.zeros((8, 8, 3), np.uint8)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    base = _grey_depth(data.background, data.roi)[y0:y1, x0:x1] // 2
    base = cv2.resize(base, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    roi_box = cv2.resize(data.roi[y0:y1, x0:x1].astype(np.uint8), None, fx=scale, fy=scale,
                         interpolation=cv2.INTER_NEAREST)
    cv2.drawContours(base, _roi_contours(roi_box > 0), -1, ROI_COLOUR, 1, cv2.LINE_AA)
    # *_px centroids are in ROI-box pixels (origin (x0, y0)), as the h5 stores them
    px = data.scalars["centroid_x_px"] + data.box[0] - x0
    py = data.scalars["centroid_y_px"] + data.box[1] - y0
    ok = np.isfinite(px) & np.isfinite(py)
    n = ok.size
    levels = np.linspace(0, 255, max(n, 1)).astype(np.uint8)
    colours = cv2.applyColorMap(levels.reshape(-1, 1), cv2.COLORMAP_VIRIDIS).reshape(-1, 3)
    pts = np.stack([px, py], axis=1) * scale
    step = max(1, n // 4000)  # a few thousand segments are plenty on this scale
    ends = np.arange(step, n, step)
    ends = ends[ok[ends] & ok[ends - step]]
    segments = np.stack([pts[ends - step], pts[ends]], axis=1).astype(np.int32)
    # the segments in time order, one OpenCV call per run of one colour
    cuts = np.flatnonzero(np.diff(levels[ends].astype(np.int16))) + 1
    for run in np.split(np.arange(ends.size), cuts):
        if run.size:
            colour = tuple(int(c) for c in colours[ends[run[0]]])
            cv2.polylines(base, list(segments[run]), False, colour, 1, cv2.LINE_AA)
    return base


def _outline_in_box(mask: np.ndarray, inverse: np.ndarray) -> list[np.ndarray]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    out = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64)
        mapped = pts @ inverse[:, :2].T + inverse[:, 2]
        out.append(np.rint(mapped).astype(np.int32).reshape(-1, 1, 2))
    return out


def frame_pictures(data: SessionData, sample: CropSample,
                   raw: np.ndarray | None = None, *, margin: int = 70, scale: int = 2
                   ) -> list[np.ndarray]:
    """Pictures of the sampled frames: depth around the mouse (grey), its extracted outline
    (white) and heading arrow (amber, from the centroid along ``(cos a, -sin a)``).

    Parameters
    ----------
    raw : ndarray, (m, H, W) uint16, optional
        The recording's frames ``first_frame_idx + sample.frame_idx``; without them the
        crop is put back onto the background (what the extraction saw, not the recording).
    """
    c0, c1 = data.crop_shape
    h, w = data.background.shape
    out = []
    for j, i in enumerate(sample.frame_idx):
        x = float(data.scalars["centroid_x_px"][i])
        y = float(data.scalars["centroid_y_px"][i])
        angle = float(data.scalars["angle"][i])
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(angle)):
            continue
        fx, fy = x + data.box[0], y + data.box[1]  # full-frame coordinates
        inverse = cv2.invertAffineTransform(crop_transform(fx, fy, angle, c1))
        if raw is not None:
            depth = raw[j].astype(np.float64)
        else:
            heights = cv2.warpAffine(sample.frames[j].astype(np.float32), inverse, (w, h),
                                     flags=cv2.INTER_LINEAR, borderValue=0)
            depth = np.where(heights > 0, data.background - heights, data.background)
        x0, y0 = max(0, int(fx) - margin), max(0, int(fy) - margin)
        x1, y1 = min(w, int(fx) + margin), min(h, int(fy) + margin)
        image = _grey_depth(depth, data.roi)
        cv2.drawContours(image, _roi_contours(data.roi), -1, ROI_COLOUR, 1, cv2.LINE_AA)
        cv2.drawContours(image, _outline_in_box(sample.masks[j], inverse), -1,
                         OUTLINE_COLOUR, 1, cv2.LINE_AA)
        image = image[y0:y1, x0:x1]
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        length = 0.35 * c1 * scale
        start = ((fx - x0) * scale, (fy - y0) * scale)
        end = (start[0] + length * np.cos(angle), start[1] - length * np.sin(angle))
        cv2.arrowedLine(image, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])),
                        ARROW_COLOUR, 2, cv2.LINE_AA, tipLength=0.3)
        _label(image, f"frame {int(i)}  t = {data.time_s[i]:.1f} s", (6, 16))
        out.append(image)
    return out


def hstack(images: list[np.ndarray], gap: int = 6) -> np.ndarray:
    """Images side by side on a white strip (heights padded to the tallest)."""
    if not images:
        return np.full((8, 8, 3), 255, np.uint8)
    height = max(im.shape[0] for im in images)
    parts: list[np.ndarray] = []
    for im in images:
        pad = np.full((height, im.shape[1], 3), 255, np.uint8)
        pad[:im.shape[0]] = im
        if parts:
            parts.append(np.full((height, gap, 3), 255, np.uint8))
        parts.append(pad)
    return np.concatenate(parts, axis=1)


def montage_picture(data: SessionData, sample: CropSample, *, columns: int = 12,
                    scale: int = 2) -> np.ndarray:
    """The sampled crops in a grid, coloured by height, each labelled with its time."""
    k = sample.montage.shape[0]
    c0, c1 = data.crop_shape
    if k == 0:
        return np.zeros((c0, c1, 3), np.uint8)
    vmax = percentile(sample.montage[sample.montage > 0], 99) \
        if np.any(sample.montage > 0) else 1.0
    rows = -(-k // columns)
    # one grid of heights (1 px of white between tiles), coloured and scaled at once
    grid = np.zeros((rows, c0 + 1, columns, c1 + 1), np.float32)
    tiles = np.zeros((rows * columns, c0, c1), np.float32)
    tiles[:k] = sample.montage
    grid[:, :c0, :, :c1] = tiles.reshape(rows, columns, c0, c1).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (c0 + 1), columns * (c1 + 1))
    image = colourize(grid, vmax)
    image[c0::c0 + 1, :] = 255
    image[:, c1::c1 + 1] = 255
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for j in range(k):
        r, c = divmod(j, columns)
        _label(image, f"{data.time_s[sample.montage_idx[j]]:.0f}s",
               (c * (c1 + 1) * scale + 3, r * (c0 + 1) * scale + 12), 0.35)
    return image


def read_raw_frames(data: SessionData, indices: np.ndarray) -> np.ndarray | None:
    """The recording's frames for extracted frames ``indices``, or None when the recording
    is not found, is a ``.tar.gz`` (a stream: no cheap random access) or cannot be read."""
    path = data.input_file
    if path is None or path.name.endswith((".tar.gz", ".tgz")):
        return None
    from ..errors import ExtractionError
    from ..io.video import open_depth_video

    size = data.metadata.get("DepthResolution")
    frame_size = tuple(int(v) for v in size) if isinstance(size, list) and len(size) == 2 \
        else None
    try:
        with open_depth_video(path, frame_size=frame_size) as reader:
            if reader.frame_shape != data.background.shape:
                return None
            return reader.read_frames(np.asarray(indices) + data.first_frame_idx)
    except (ExtractionError, OSError, ValueError) as err:
        log.info("report: frames of %s not read (%s); crops are drawn instead", path, err)
        return None
