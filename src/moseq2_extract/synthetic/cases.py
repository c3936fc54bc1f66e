"""Hard cases of synthetic sessions: a tether, a patch cord, a hand, heavy dropouts, an
object larger than the mouse.

A case adds things to the frames of the clean session of the same seed and nothing else:
the mouse, its trajectory, the noise and the scene are unchanged, so the clean ground truth
still describes the mouse and a clean and a case session can be compared pixel by pixel.

Every case is a pure function of (spec, frame index): per-session parameters come from
generators seeded by ``(seed, 21..24)`` (streams the clean session does not use), per-frame
randomness from ``(seed, 24, frame)``, motion from closed-form functions of time, so any frame
range renders the same whatever the chunking.

Objects are height fields above the floor plane (mm), drawn where they are nearer to the
camera than the scene (``depth = floor plane - height``, the minimum depth wins, over the
floor, the wall and the mouse), with the session's depth noise; the per-frame random zeros
of ``dropout_rate`` still apply on top.

* ``tether``: a cable from a fixed anchor high above the arena edge (150-300 mm) to a
  connector on the head (5-10 mm above the head top), 9-11 px wide at the head (a
  sheathed cable, wider than the default 9 px tail filter) tapering to
  3-4 px, rising along its length (``sin`` profile), swaying laterally (two slow sinusoids).
* ``patch_cord``: a 2 px (at the head) then 1 px cord from a small connector on the head up
  to a commutator 350-450 mm above the arena centre; the cord reads 0 (too near the camera)
  where it is higher than :data:`CORD_RANGE_LIMIT_MM`.
* ``hand``: a hand (an ellipsoid blob ~50 x 40 px, 30-60 mm high, fingers lowest) on an arm
  rising from the wrist to 300-400 mm at the image border (perspective width), in two
  windows: the start (~2 s, placing the mouse: touching it, then withdrawing) and once
  around the middle (2-3 s: reaching in, hovering 15-40 px from the mouse, closing in to
  touch it at mid-window, withdrawing).
  While it reaches in or withdraws, the hand is lifted by up to 150 mm.
* ``dropouts``: zeroed blobs on the mouse in :data:`DROPOUT_BLOB_FRAME_RATE` of the frames
  (at least :data:`DROPOUT_BLOB_MIN_FRACTION` of the silhouette each time), zeroed edge
  pixels (a 1-2 px ring around the silhouette, each pixel with probability 0.2-0.7) in
  :data:`DROPOUT_RING_FRAME_RATE` of the frames, and in :data:`DROPOUT_BAND_FRAME_RATE` of
  the frames a band of 2-6 zeroed rows through the mouse, across the frame or the mouse.
* ``object``: an object larger than the mouse (an elliptical dome, 1.3-1.6 x the mouse's
  area, 35-50 mm high: a toy, a clump of bedding) put into the arena for
  :data:`OBJECT_WINDOW` of the session, on the far side of the arena from where the mouse
  is then, and taken out again.  It is not in the background (out for most of the
  session) and it is the largest blob while it is there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .session import SyntheticSession

CASES: tuple[str, ...] = ("clean", "tether", "patch_cord", "hand", "dropouts", "object")

# Part of the session (start, stop as fractions) the object of the ``object`` case is in.
OBJECT_WINDOW = (0.35, 0.6)

# Declared rates of the dropouts case.
DROPOUT_BLOB_FRAME_RATE = 0.4      # frames with zeroed blobs on the mouse
DROPOUT_BLOB_MIN_FRACTION = 0.08   # of the silhouette zeroed by the blobs of such a frame
DROPOUT_RING_FRAME_RATE = 0.5      # frames with zeroed silhouette-edge pixels
DROPOUT_BAND_FRAME_RATE = 0.01     # frames with a band of zeroed rows

# Patch-cord pixels higher than this read 0 (closer than the camera's minimum range).
CORD_RANGE_LIMIT_MM = 300.0

NOTHING = np.uint16(65535)         # overlay depth of a pixel where the case draws nothing

_SIL_MM = 10.0                     # silhouette threshold (= session.SILHOUETTE_MIN_HEIGHT_MM)


@dataclass
class CaseLayer:
    """What a hard case adds to one frame.

    Attributes
    ----------
    x0, y0 : int
        Origin of ``depth`` in the frame.
    depth : ndarray, (h, w) uint16, or None
        Noise-free depth of the drawn object (mm); :data:`NOTHING` where nothing is drawn,
        0 where it is drawn but out of range.  Drawn where nearer than the scene.
    zeros : ndarray of int64
        Flat frame indices set to 0 (dropouts).
    intrusion : bool
        A hand/arm is in view.
    blobs, ring, band : bool
        Dropouts drawn this frame.
    """

    x0: int = 0
    y0: int = 0
    depth: np.ndarray | None = None
    zeros: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    intrusion: bool = False
    blobs: bool = False
    ring: bool = False
    band: bool = False

    def drawn(self, height: int, width: int) -> np.ndarray:
        """(height, width) bool: pixels the case may change (object footprint or zeros)."""
        out = np.zeros((height, width), dtype=bool)
        if self.depth is not None:
            h, w = self.depth.shape
            out[self.y0: self.y0 + h, self.x0: self.x0 + w] = self.depth != NOTHING
        out.reshape(-1)[self.zeros] = True
        return out


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def _tube(canvas: np.ndarray, x0: int, y0: int, pts: np.ndarray, heights: np.ndarray,
          widths: np.ndarray) -> None:
    """Draw a polyline tube into ``canvas`` (heights, mm) taking the maximum height.

    A pixel belongs to the tube where its centre lies within ``width(u) / 2`` of the
    continuous centre line (so a tube of width w covers ~w pixels per pixel of length at
    any orientation); ``u`` is the nearest point's position along the polyline and the
    height and width are interpolated there from ``heights`` / ``widths`` (per point).
    """
    hh, ww = canvas.shape
    m = len(pts)
    p = pts - [x0, y0]
    # The 1-px centre line, each pixel labelled with its segment (1-based).
    idx = np.zeros((hh, ww), dtype=np.uint16)
    fixed = np.clip(np.rint(p * 16), -(1 << 26), 1 << 26).astype(np.int64)
    ends = [tuple(q) for q in fixed.tolist()]
    for j in range(m - 1):
        cv2.line(idx, ends[j], ends[j + 1], j + 1, 1, cv2.LINE_8, 4)
    centre = idx.ravel().nonzero()[0]
    if not len(centre):
        return
    src = np.where(idx > 0, 0, 255).astype(np.uint8)
    dist, lab = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, cv2.DIST_MASK_5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(dist <= 0.5 * float(widths.max()) + 1.5)
    # Labels number the zero (centre) pixels in raster order.
    seg = idx.ravel()[centre[lab[ys, xs] - 1]].astype(np.int64) - 1
    fx, fy = xs.astype(np.float32), ys.astype(np.float32)
    p32 = p.astype(np.float32)
    seg_d = np.diff(p32, axis=0)
    inv_len2 = 1.0 / np.maximum((seg_d * seg_d).sum(1), np.float32(1e-12))
    best = np.full(len(xs), np.inf, dtype=np.float32)
    along = np.zeros(len(xs), dtype=np.float32)
    # The nearest centre pixel is within ~0.5 px of the nearest point: its segment or a
    # neighbour holds that point.
    for off in (-1, 0, 1):
        jj = np.clip(seg + off, 0, m - 2)
        rx, ry = fx - p32[jj, 0], fy - p32[jj, 1]
        bx, by = seg_d[jj, 0], seg_d[jj, 1]
        t = np.clip((rx * bx + ry * by) * inv_len2[jj], 0.0, 1.0)
        rx -= t * bx
        ry -= t * by
        d2 = rx * rx + ry * ry
        better = d2 < best
        best[better] = d2[better]
        along[better] = (jj + t)[better]
    best = np.sqrt(best)
    knots = np.arange(m)
    inside = best <= 0.5 * np.interp(along, knots, widths)
    ys, xs = ys[inside], xs[inside]
    h = np.interp(along[inside], knots, heights).astype(np.float32)
    canvas[ys, xs] = np.maximum(canvas[ys, xs], h)


def _box(points: np.ndarray, pad: float, width: int, height: int
         ) -> tuple[int, int, int, int] | None:
    x0 = max(0, int(math.floor(points[:, 0].min() - pad)))
    y0 = max(0, int(math.floor(points[:, 1].min() - pad)))
    x1 = min(width, int(math.ceil(points[:, 0].max() + pad)) + 1)
    y1 = min(height, int(math.ceil(points[:, 1].max() + pad)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


class CaseRenderer:
    """Per-frame :class:`CaseLayer` of one session's hard case (not for ``clean``)."""

    def __init__(self, session: SyntheticSession) -> None:
        self.s = session
        spec = session.spec
        self.case = spec.case
        self.seed = spec.seed
        self.fps = float(spec.fps)
        sc = session._scene
        self.k = sc.k
        self.g = sc.k * spec.mouse_scale
        self.H, self.W = session.height, session.width
        self.plane = sc.plane
        cx, cy = sc.center
        if self.case == "tether":
            rng = np.random.default_rng([self.seed, 21])
            phi = rng.uniform(0, 2 * np.pi)
            self.anchor_height = float(rng.uniform(150.0, 300.0))
            r = sc.radius * sc.depth0 / (sc.depth0 - self.anchor_height)
            r = min(r, self._room(cx, cy, phi) - 4.0)
            self.anchor = np.array([cx + r * math.cos(phi), cy + r * math.sin(phi)])
            self.connector_dh = float(rng.uniform(5.0, 10.0))
            self.width_near = float(rng.uniform(9.0, 11.0)) * self.k
            self.width_far = float(rng.uniform(3.0, 4.0)) * self.k
            self.sway: tuple[float, ...] = (float(rng.uniform(-0.04, 0.04)),
                         float(rng.uniform(0.06, 0.12)), float(rng.uniform(0.15, 0.4)),
                         float(rng.uniform(0, 2 * np.pi)),
                         float(rng.uniform(0.03, 0.06)), float(rng.uniform(0.6, 1.2)),
                         float(rng.uniform(0, 2 * np.pi)))
        elif self.case == "patch_cord":
            rng = np.random.default_rng([self.seed, 22])
            off = rng.uniform(-8.0, 8.0, size=2) * self.k
            self.commutator = np.array([cx + off[0], cy + off[1]])
            self.commutator_height = float(rng.uniform(350.0, 450.0))
            self.connector_dh = float(rng.uniform(5.0, 10.0))
            self.sway = (float(rng.uniform(0.02, 0.05)), float(rng.uniform(0.2, 0.5)),
                         float(rng.uniform(0, 2 * np.pi)))
        elif self.case == "hand":
            self._init_hand(np.random.default_rng([self.seed, 23]))
        elif self.case == "object":
            self._init_object(np.random.default_rng([self.seed, 25]))

    def _room(self, x: float, y: float, phi: float) -> float:
        """Distance from (x, y) to the image border along direction ``phi``."""
        c, s = math.cos(phi), math.sin(phi)
        dist = []
        if c > 1e-9:
            dist.append((self.W - 1 - x) / c)
        elif c < -1e-9:
            dist.append(-x / c)
        if s > 1e-9:
            dist.append((self.H - 1 - y) / s)
        elif s < -1e-9:
            dist.append(-y / s)
        return min(dist)

    # ------------------------------------------------------------------ mouse
    def head_connector(self, i: int, radius: float = 0.0) -> tuple[float, float, float]:
        """(x, y, head-top height mm) of the head connector of frame ``i``.

        The connector sits on the head ellipsoid (the front part of the body axis), a fifth
        of its semi-length behind its centre (between the ears); the height is the highest
        point of the mouse within ``radius`` px of it along the body axis (the mouse is
        highest on its axis).
        """
        s = self.s
        parts = s._parts(s._levels(i))
        s_head, a_head = parts[2][0], parts[2][1]
        sc_ = s_head - 0.2 * a_head
        top = 0.0
        for s0, a, _b, hmax, taper in parts:
            u = (np.linspace(sc_ - radius, sc_ + radius, 17) - s0) / a
            h = hmax * np.sqrt(np.clip(1.0 - u * u, 0.0, None))
            if taper:
                h *= 1.0 - taper * np.clip(u, 0.0, 1.0)
            top = max(top, float(h.max()))
        x, y, th = float(s._traj.x[i]), float(s._traj.y[i]), float(s._traj.theta[i])
        return x + sc_ * math.cos(th), y - sc_ * math.sin(th), top

    # ------------------------------------------------------------------ layers
    def layer(self, i: int) -> CaseLayer:
        if self.case == "tether":
            return self._tether(i)
        if self.case == "patch_cord":
            return self._patch_cord(i)
        if self.case == "hand":
            return self._hand(i)
        if self.case == "dropouts":
            return self._dropouts(i)
        if self.case == "object":
            return self._object(i)
        return CaseLayer()

    def _overlay(self, box: tuple[int, int, int, int], heights: np.ndarray,
                 invalid: np.ndarray | None = None) -> CaseLayer:
        x0, y0, x1, y1 = box
        plane = self.plane[y0:y1, x0:x1]
        depth = np.full(heights.shape, NOTHING, dtype=np.uint16)
        on = heights > 0
        depth[on] = np.rint(plane[on] - heights[on]).astype(np.uint16)
        if invalid is not None:
            depth[invalid & on] = 0
        return CaseLayer(x0=x0, y0=y0, depth=depth)

    def _cable_points(self, a: np.ndarray, b: np.ndarray, lateral: float, step: float
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Points from ``a`` to ``b`` with a ``sin`` sag of ``lateral`` x length; and u."""
        d = b - a
        length = float(np.hypot(*d))
        m = int(min(400, max(8, length / step + 2)))
        u = np.linspace(0.0, 1.0, m)
        nrm = np.array([-d[1], d[0]]) / max(length, 1e-6)
        pts = a + u[:, None] * d + (lateral * length * np.sin(np.pi * u))[:, None] * nrm
        return pts, u

    def _tether(self, i: int) -> CaseLayer:
        r_conn = 0.5 * self.width_near + 0.5 * self.k
        hx, hy, top = self.head_connector(i, r_conn)
        hc = top + self.connector_dh
        t = i / self.fps
        bias, a1, f1, p1, a2, f2, p2 = self.sway
        lateral = (bias + a1 * math.sin(2 * np.pi * f1 * t + p1)
                   + a2 * math.sin(2 * np.pi * f2 * t + p2))
        pts, u = self._cable_points(np.array([hx, hy]), self.anchor, lateral, 2.0)
        heights = hc + (self.anchor_height - hc) * np.sin(0.5 * np.pi * u)
        widths = self.width_near + (self.width_far - self.width_near) * u
        return self._cable_layer(pts, heights, widths, (hx, hy), r_conn, hc,
                                 margin=max(r_conn, self.width_near / 2) + 2)

    def _cable_layer(self, pts: np.ndarray, heights: np.ndarray, widths: np.ndarray,
                     head: tuple[float, float], r_conn: float, connector_height: float, *,
                     margin: float, out_of_range: float | None = None) -> CaseLayer:
        """A cable along ``pts`` ending in a connector disk at ``head``; heights above
        ``out_of_range`` (mm) read as invalid (0)."""
        box = _box(pts, margin, self.W, self.H)
        if box is None:
            return CaseLayer()
        x0, y0, x1, y1 = box
        canvas = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        _tube(canvas, x0, y0, pts, heights, widths)
        self._connector(canvas, x0, y0, head[0], head[1], r_conn, connector_height)
        invalid = None if out_of_range is None else canvas > out_of_range
        return self._overlay(box, canvas, invalid)

    @staticmethod
    def _connector(canvas: np.ndarray, x0: int, y0: int, x: float, y: float, r: float,
                   h: float) -> None:
        disk = np.zeros(canvas.shape, dtype=np.uint8)
        cv2.circle(disk, (int(round((x - x0) * 16)), int(round((y - y0) * 16))),
                   int(round(r * 16)), 1, -1, cv2.LINE_8, 4)
        on = disk.view(bool)
        canvas[on] = np.maximum(canvas[on], np.float32(h))

    def _patch_cord(self, i: int) -> CaseLayer:
        r_conn = 2.5 * self.k
        hx, hy, top = self.head_connector(i, r_conn)
        hc = top + self.connector_dh
        t = i / self.fps
        amp, f, ph = self.sway
        pts, u = self._cable_points(np.array([hx, hy]), self.commutator,
                                    amp * math.sin(2 * np.pi * f * t + ph), 1.5)
        heights = hc + (self.commutator_height - hc) * u
        widths = np.where(u < 0.35, 2.0, 1.0)
        return self._cable_layer(pts, heights, widths, (hx, hy), r_conn, hc,
                                 margin=r_conn + 3, out_of_range=CORD_RANGE_LIMIT_MM)

    # ------------------------------------------------------------------ object
    def _init_object(self, rng: np.random.Generator) -> None:
        s, sc = self.s, self.s._scene
        n = s.n_frames
        self.object_frames = (int(OBJECT_WINDOW[0] * n), int(OBJECT_WINDOW[1] * n))
        cx, cy = sc.center
        ref = self.object_frames[0]
        away = math.atan2(cy - float(s._traj.y[ref]), cx - float(s._traj.x[ref]))
        az = away + rng.uniform(-0.4, 0.4)
        r = 0.55 * sc.radius
        self.object_xy = (cx + r * math.cos(az), cy + r * math.sin(az))
        # the mouse's silhouette is ~ pi * 28 * 12 k^2 px: the dome is 1.3-1.6 x that
        scale = math.sqrt(rng.uniform(1.3, 1.6))
        self.object_axes = (30.0 * scale * self.g, 16.0 * scale * self.g)
        self.object_angle = float(rng.uniform(0, 180))
        self.object_height = float(rng.uniform(35.0, 50.0))

    def _object(self, i: int) -> CaseLayer:
        a, b = self.object_frames
        if not a <= i < b:
            return CaseLayer()
        (x, y), (ax, bx) = self.object_xy, self.object_axes
        box = _box(np.array([[x, y]]), ax + 2, self.W, self.H)
        if box is None:
            return CaseLayer()
        x0, y0, x1, y1 = box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        t = math.radians(self.object_angle)
        u = ((xx - x) * math.cos(t) + (yy - y) * math.sin(t)) / ax
        v = (-(xx - x) * math.sin(t) + (yy - y) * math.cos(t)) / bx
        dome = self.object_height * np.sqrt(np.clip(1.0 - u * u - v * v, 0.0, None))
        # a flat-topped object: its rim rises steeply, its top is level
        heights = np.minimum(dome * 1.6, self.object_height).astype(np.float32)
        return self._overlay(box, heights)

    # -------------------------------------------------------------------- hand
    def _init_hand(self, rng: np.random.Generator) -> None:
        s, sc = self.s, self.s._scene
        n, fps = s.n_frames, self.fps
        cx, cy = sc.center
        first = int(round(rng.uniform(1.7, 2.3) * fps))
        mid_len = int(round(rng.uniform(2.0, 3.0) * fps))
        mid0 = n // 2 - mid_len // 2 + int(round(rng.uniform(-0.5, 0.5) * fps))
        windows = [(0, min(n, first), True)]
        if mid0 < n:
            windows.append((max(0, mid0), min(n, mid0 + mid_len), False))
        self.windows: list[dict] = []
        for w0, w1, placing in windows:
            ref = w0 if placing else (w0 + w1) // 2
            mx, my = float(s._traj.x[ref]), float(s._traj.y[ref])
            az = math.atan2(my - cy, mx - cx) + rng.uniform(-0.6, 0.6)
            du = np.array([math.cos(az), math.sin(az)])
            self.windows.append(dict(
                start=w0, stop=w1, placing=placing,
                entry=np.array([cx, cy]) + 0.97 * sc.radius * du,
                far=np.array([cx, cy]) + 2.6 * sc.radius * du,
                gap_far=float(rng.uniform(25.0, 40.0)) * self.k,
                gap_f=float(rng.uniform(0.5, 1.0)), gap_ph=float(rng.uniform(0, 2 * np.pi)),
                h_fingers=float(rng.uniform(30.0, 36.0)),
                h_wrist=float(rng.uniform(52.0, 60.0)),
                h_border=float(rng.uniform(300.0, 400.0)),
                arm_mm=float(rng.uniform(45.0, 60.0)),
                a=float(rng.uniform(24.0, 30.0)) * self.k,
                b=float(rng.uniform(18.0, 24.0)) * self.k,
            ))
        self.intrusion = np.zeros(n, dtype=bool)
        for w in self.windows:
            self.intrusion[w["start"]: w["stop"]] = True

    def _hand(self, i: int) -> CaseLayer:
        win = None
        for w in self.windows:          # the mid-session window wins where they overlap
            if w["start"] <= i < w["stop"]:
                win = w
        if win is None:
            return CaseLayer()
        s, sc = self.s, self.s._scene
        length = win["stop"] - win["start"]
        q = (i - win["start"] + 0.5) / length
        # Placing: down on the mouse, then withdrawing; mid-session: in, hover, out.
        ramp = (1.0 - q) / 0.55 if win["placing"] else min(q, 1.0 - q) / 0.3
        p = _smoothstep(ramp)
        mouse = np.array([float(s._traj.x[i]), float(s._traj.y[i])])
        t = i / self.fps
        a, b = win["a"], win["b"]
        # Gap between the fingertips and the mouse's side (px, along the arm; < 0: over
        # it): touching while placing, then away; mid-session hovering 15-40 px away and
        # touching at the middle of the window.  Plus a small wobble.
        touch = -3.0 * self.k
        if win["placing"]:
            gap = touch + (win["gap_far"] - touch) * _smoothstep(q / 0.45)
        else:
            gap = win["gap_far"] - (win["gap_far"] - touch) * math.sin(np.pi * q) ** 4
        gap += 2.0 * self.k * math.sin(2 * np.pi * win["gap_f"] * t + win["gap_ph"])
        to_far = win["far"] - mouse
        target = mouse + (a + 12.0 * self.g + gap) * to_far / np.hypot(*to_far)
        centre = win["entry"] + p * (target - win["entry"])
        lift = 150.0 * (1.0 - p)
        axis = win["far"] - centre
        axis /= np.hypot(*axis)
        wrist = centre + 0.8 * a * axis
        far = win["far"]
        m = int(max(8, np.hypot(*(far - wrist)) / 4 + 2))
        frac = np.linspace(0.0, 1.0, m)
        pts = wrist + frac[:, None] * (far - wrist)
        h0 = win["h_wrist"] + lift
        arm_h = h0 + (win["h_border"] - h0) * np.sqrt(frac)
        arm_w = np.minimum(150.0, s.camera.fx * win["arm_mm"] / (sc.depth0 - arm_h))
        box = _box(np.vstack([pts, centre[None]]), max(a, arm_w.max() / 2) + 2,
                   self.W, self.H)
        if box is None:
            return CaseLayer(intrusion=True)
        x0, y0, x1, y1 = box
        canvas = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        _tube(canvas, x0, y0, pts, arm_h, arm_w)
        # Hand: an ellipse along the arm, fingers (towards the mouse) lowest.
        hx0, hy0 = max(x0, int(centre[0] - a - 2)), max(y0, int(centre[1] - a - 2))
        hx1, hy1 = min(x1, int(centre[0] + a + 3)), min(y1, int(centre[1] + a + 3))
        if hx1 > hx0 and hy1 > hy0:
            yy, xx = np.mgrid[hy0:hy1, hx0:hx1].astype(np.float64)
            dx, dy = xx - centre[0], yy - centre[1]
            sa = dx * axis[0] + dy * axis[1]
            ta = -dx * axis[1] + dy * axis[0]
            rho2 = (sa / a) ** 2 + (ta / b) ** 2
            alpha = np.clip((sa / a + 1.0) / 2.0, 0.0, 1.0)
            h = (win["h_fingers"] + (win["h_wrist"] - win["h_fingers"]) * alpha
                 + 6.0 * np.sqrt(np.clip(1.0 - rho2, 0.0, None)))
            h = np.minimum(h, 60.0) + lift
            h[rho2 > 1.0] = 0.0
            sub = canvas[hy0 - y0: hy1 - y0, hx0 - x0: hx1 - x0]
            np.maximum(sub, h.astype(np.float32), out=sub)
        layer = self._overlay(box, canvas)
        layer.intrusion = True
        return layer

    # ---------------------------------------------------------------- dropouts
    def _dropouts(self, i: int) -> CaseLayer:
        s = self.s
        rng = np.random.default_rng([self.seed, 24, i])
        u_blob, u_ring, u_band = rng.random(3)
        layer = CaseLayer(blobs=bool(u_blob < DROPOUT_BLOB_FRAME_RATE),
                          ring=bool(u_ring < DROPOUT_RING_FRAME_RATE),
                          band=bool(u_band < DROPOUT_BAND_FRAME_RATE))
        zeros = []
        body = s._body_patch(i)
        if layer.blobs and body is not None:
            bx0, by0, bh = body
            sil = bh > _SIL_MM
            n_sil = int(sil.sum())
            if n_sil:
                target = rng.uniform(DROPOUT_BLOB_MIN_FRACTION, 0.25)
                ys, xs = np.nonzero(sil)
                mask = np.zeros(sil.shape, dtype=np.uint8)
                on_mouse = bh >= 0.5
                for _ in range(400):
                    c = int(rng.integers(len(ys)))
                    r = rng.uniform(2.0, 5.0) * self.k
                    cv2.circle(mask, (int(xs[c]) * 16 + 8, int(ys[c]) * 16 + 8),
                               int(round(r * 16)), 1, -1, cv2.LINE_8, 4)
                    mask &= on_mouse
                    if int(mask[sil].sum()) >= target * n_sil:
                        break
                yy, xx = np.nonzero(mask)
                zeros.append((yy + by0) * self.W + (xx + bx0))
        mouse = s._mouse_heights(i)
        if layer.ring and mouse is not None:
            mx0, my0, hp = mouse
            w = int(rng.integers(1, 3))
            q = rng.uniform(0.2, 0.7)
            strel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * w + 1, 2 * w + 1))
            core = cv2.erode((hp > _SIL_MM).astype(np.uint8), strel)
            ring = (hp > 0) & (core == 0)
            pick = ring & (rng.random(ring.shape) < q)
            yy, xx = np.nonzero(pick)
            zeros.append((yy + my0) * self.W + (xx + mx0))
        if layer.band and mouse is not None:
            mx0, my0, hp = mouse
            rows = int(rng.integers(2, 7))
            r0 = my0 + int(rng.integers(0, max(1, hp.shape[0] - rows)))
            if rng.random() < 0.5:
                c0, c1 = 0, self.W
            else:
                c0, c1 = mx0, mx0 + hp.shape[1]
            rr, cc = np.mgrid[r0: min(self.H, r0 + rows), c0:c1]
            zeros.append((rr * self.W + cc).ravel())
        if zeros:
            layer.zeros = np.concatenate(zeros).astype(np.int64)
        return layer


def apply_layer(frame: np.ndarray, layer: CaseLayer, background: np.ndarray,
                noise: np.ndarray | None) -> None:
    """Draw ``layer``'s object into ``frame`` (in place) where it is nearer than the scene.

    ``frame`` is the noisy frame with its static zeros (``background == 0``); ``noise`` the
    frame's noise field (uint16-wrapped int16) or None.  The case's zeros are not applied.
    """
    if layer.depth is None:
        return
    y0, x0 = layer.y0, layer.x0
    h, w = layer.depth.shape
    sub = frame[y0: y0 + h, x0: x0 + w]
    ov = layer.depth
    if noise is not None:
        nz = noise[y0: y0 + h, x0: x0 + w]
        scene = sub - nz                  # noise-free scene depth (uint16 wrap-around)
        value = ov + nz
    else:
        scene, value = sub, ov.copy()
    value[ov == 0] = 0
    draw = (ov != NOTHING) & ((ov < scene) | (background[y0: y0 + h, x0: x0 + w] == 0))
    sub[draw] = value[draw]


def occluded_fraction(session: SyntheticSession, i: int, layer: CaseLayer) -> float:
    """Fraction of frame ``i``'s silhouette pixels hidden by ``layer`` (covered or zeroed).

    The same comparison as the rendering, without noise: a silhouette pixel is covered where
    the object's depth is below the noise-free scene (background - mouse heights).
    """
    body = session._body_patch(i)
    if body is None:
        return 0.0
    bx0, by0, bh = body
    sil = bh > _SIL_MM
    n_sil = int(sil.sum())
    if n_sil == 0:
        return 0.0
    bh_, bw_ = bh.shape
    hidden = np.zeros(bh.shape, dtype=bool)
    if layer.depth is not None:
        lh, lw = layer.depth.shape
        ix0, iy0 = max(bx0, layer.x0), max(by0, layer.y0)
        ix1, iy1 = min(bx0 + bw_, layer.x0 + lw), min(by0 + bh_, layer.y0 + lh)
        if ix1 > ix0 and iy1 > iy0:
            scene = session._bg_u16[iy0:iy1, ix0:ix1].copy()
            mouse = session._mouse_heights(i)
            if mouse is not None:
                mx0, my0, hp = mouse
                jx0, jy0 = max(ix0, mx0), max(iy0, my0)
                jx1, jy1 = min(ix1, mx0 + hp.shape[1]), min(iy1, my0 + hp.shape[0])
                if jx1 > jx0 and jy1 > jy0:
                    sub = scene[jy0 - iy0: jy1 - iy0, jx0 - ix0: jx1 - ix0]
                    np.subtract(sub, hp[jy0 - my0: jy1 - my0, jx0 - mx0: jx1 - mx0], out=sub)
            ov = layer.depth[iy0 - layer.y0: iy1 - layer.y0, ix0 - layer.x0: ix1 - layer.x0]
            hidden[iy0 - by0: iy1 - by0, ix0 - bx0: ix1 - bx0] = (ov != NOTHING) & (ov < scene)
    if len(layer.zeros):
        rr, cc = np.divmod(layer.zeros, session.width)
        rr, cc = rr - by0, cc - bx0
        inside = (rr >= 0) & (rr < bh_) & (cc >= 0) & (cc < bw_)
        hidden[rr[inside], cc[inside]] = True
    return float(hidden[sil].sum()) / n_sil
