"""Synthetic sessions rendered from a :class:`~.spec.SessionSpec`: scene, mouse, behaviour,
frames, and the :class:`~.spec.GroundTruth` of what they show."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import ndtri

from moseq2_extract.camera import PRESETS, CameraModel

from .cases import CaseLayer, CaseRenderer, apply_layer, occluded_fraction
from .spec import (  # noqa: F401 - also importable from here, as before
    PAUSE,
    REAR,
    SILHOUETTE_MIN_HEIGHT_MM,
    STATE_NAMES,
    TURN,
    WALK,
    GroundTruth,
    SessionSpec,
)

logger = logging.getLogger(__name__)


# Reference optics: sizes below are Kinect v2 pixels at a 670 mm floor.
_REF_FX = 365.5
_REF_DEPTH_MM = 670.0
_DEFAULT_FLOOR_DEPTH_MM = {"kinect": 670.0, "azure": 600.0, "realsense": 670.0}

_BLOCK = 64          # frames per block of per-frame random draws (chunking-independent)
_N_BANK = 16         # noise fields in the bank
_BANK_PAD = 32       # extra rows/columns of each noise field (random shift range)
_FORMATS = ("dat", "avi", "tar.gz", "mkv")
_REAR_LEVELS = 48    # quantisation of the rearing posture (templates are cached per level)
_CURL_LEVELS = 24    # quantisation of the curled (ambiguous) posture
_OVERSAMPLE = 2      # template samples per pixel
_TAIL_K = np.linspace(0.0, 1.0, 10)
_TAIL_K12 = _TAIL_K ** 1.2


@dataclass
class _Scene:
    camera: CameraModel
    k: float                      # pixels of this camera per Kinect-reference pixel
    depth0: float                 # floor depth at the arena centre (mm)
    center: tuple[float, float]   # arena centre (x, y)
    radius: float                 # floor radius (px)
    background: np.ndarray        # (H, W) float32, 0 = invalid
    plane: np.ndarray             # (H, W) float32, the floor plane extended everywhere
    floor_mask: np.ndarray        # (H, W) bool
    static_zero_idx: np.ndarray   # flat indices of permanent zeros
    edge_idx: np.ndarray          # flat indices of wall-edge pixels (high dropout)
    outside_idx: np.ndarray       # flat indices of outside pixels (extra dropout)


@dataclass
class _Trajectory:
    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    rear: np.ndarray
    curl: np.ndarray
    state: np.ndarray
    tail_phase: np.ndarray
    tail_bend: np.ndarray


def _wrap(a: np.ndarray | float) -> np.ndarray | float:
    """Wrap angles to (-pi, pi]."""
    w = np.mod(np.asarray(a, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi
    w = np.where(w <= -np.pi, w + 2 * np.pi, w)
    return w if np.ndim(w) else float(w)


class SyntheticSession:
    """A seeded synthetic depth session.

    Parameters
    ----------
    spec : SessionSpec, optional
        Session parameters (defaults: 900 Kinect frames at 30 fps, seed 0).

    Notes
    -----
    Frames are rendered on demand (:meth:`render`, :meth:`iter_chunks`); per-frame random
    draws come from fixed blocks of frames seeded by (seed, block), so any frame range gives
    bit-identical frames whatever the chunking.  Memory is bounded by the chunk size plus a
    few per-frame floats of trajectory.
    """

    def __init__(self, spec: SessionSpec | None = None) -> None:
        self.spec = spec if spec is not None else SessionSpec()
        self.spec.validate()
        self.n_frames = int(self.spec.n_frames)
        self.camera = PRESETS[self.spec.camera]
        self.height, self.width = self.camera.height, self.camera.width
        self._scene = self._build_scene()
        self._traj = self._simulate()
        self._tail_height = float(
            np.random.default_rng([self.spec.seed, 11]).uniform(13.0, 17.0))
        self._bg_u16 = np.rint(self._scene.background).astype(np.uint16)
        self._bank: np.ndarray | None = None    # built on the first render
        self._block_cache: tuple[int, list] | None = None
        self._templates: dict[tuple[int, int], tuple[np.ndarray, float, float]] = {}
        self._gt: GroundTruth | None = None
        self._case = CaseRenderer(self) if self.spec.case != "clean" else None

    # ------------------------------------------------------------------ scene
    def _build_scene(self) -> _Scene:
        spec, cam = self.spec, self.camera
        rng = np.random.default_rng([spec.seed, 1])
        depth0 = float(spec.floor_depth_mm if spec.floor_depth_mm is not None
                       else _DEFAULT_FLOOR_DEPTH_MM.get(cam.name, 670.0))
        k = (cam.fx / depth0) / (_REF_FX / _REF_DEPTH_MM)
        H, W = cam.height, cam.width
        radius_ref = (float(spec.arena_radius_px) if spec.arena_radius_px is not None
                      else float(rng.uniform(150.0, 170.0)))
        radius = radius_ref * k
        cx = W / 2 + rng.uniform(-8, 8) * k
        cy = H / 2 + rng.uniform(-6, 6) * k
        # Floor plane: depth grows along direction phi by tan(tilt) mm per mm.
        phi = rng.uniform(0, 2 * np.pi)
        slope = math.tan(math.radians(spec.floor_tilt_deg)) * depth0 / cam.fx  # mm per px
        gx, gy = slope * math.cos(phi), slope * math.sin(phi)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
        plane = depth0 + gx * (xx - cx) + gy * (yy - cy)
        r = np.hypot(xx - cx, yy - cy)
        wall_height = rng.uniform(110.0, 140.0)
        r_top = radius * depth0 / (depth0 - wall_height)
        rim = 4.0 * k
        bg = plane.copy()
        on_wall = (r > radius) & (r <= r_top)
        bg[on_wall] = plane[on_wall] * radius / r[on_wall]
        on_rim = (r > r_top) & (r <= r_top + rim)
        bg[on_rim] = plane[on_rim] * radius / r_top
        outside = r > r_top + rim
        outside_depth = depth0 + rng.uniform(260.0, 320.0)
        bg[outside] = plane[outside] - depth0 + outside_depth
        # Permanent invalid patches outside the bucket: thresholded smooth noise + specks.
        low = rng.standard_normal((H // 16 + 2, W // 16 + 2)).astype(np.float32)
        blobs = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC)
        invalid = outside & ((blobs > 1.0) | (rng.random((H, W)) < 0.02))
        bg[invalid] = 0.0
        edge = ((np.abs(r - (r_top + rim)) < 2.0) | (np.abs(r - radius) < 1.0)) & ~invalid
        flat = np.arange(H * W)
        return _Scene(
            camera=cam, k=k, depth0=depth0, center=(float(cx), float(cy)), radius=radius,
            background=bg.astype(np.float32), plane=plane.astype(np.float32),
            floor_mask=r <= radius,
            static_zero_idx=flat[invalid.ravel()], edge_idx=flat[edge.ravel()],
            outside_idx=flat[(outside & ~invalid).ravel()],
        )

    def _build_noise_bank(self) -> np.ndarray:
        rng = np.random.default_rng([self.spec.seed, 2])
        shape = (_N_BANK, self.height + _BANK_PAD, self.width + _BANK_PAD)
        # Rounded Gaussian quantiles indexed by uniform 16-bit integers (fast to draw).
        levels = ndtri((np.arange(65536) + 0.5) / 65536) * self.spec.noise_mm
        table = np.rint(levels).astype(np.int16).view(np.uint16)
        # int16 noise viewed as uint16: adding it to uint16 depth wraps to depth + noise.
        return table[rng.integers(0, 65536, size=shape, dtype=np.uint16)]

    # -------------------------------------------------------------- behaviour
    def _simulate(self) -> _Trajectory:
        """Run the behaviour state machine for every frame (positions in px)."""
        spec, sc = self.spec, self._scene
        rng = np.random.default_rng([spec.seed, 4])
        n, fps, k = self.n_frames, float(spec.fps), sc.k
        dt = 30.0 / fps                       # behaviour constants are tuned per 1/30 s
        half_len = 32.0 * k * spec.mouse_scale
        r_hard = sc.radius - half_len - 10.0 * k
        r_soft = r_hard - 15.0 * k
        cx, cy = sc.center
        ang0 = rng.uniform(0, 2 * np.pi)
        rad0 = rng.uniform(0, 0.35) * r_soft
        x, y = cx + rad0 * math.cos(ang0), cy + rad0 * math.sin(ang0)
        theta = rng.uniform(-np.pi, np.pi)
        v = w = wander = 0.0
        rear = 0.0
        curl = 1.0 if spec.ambiguous_start_frames > 0 else 0.0
        tail_phase = rng.uniform(0, 2 * np.pi)
        tail_bend = 0.0
        durations = {WALK: (1.3, 4.0), PAUSE: (0.5, 1.7), TURN: (0.5, 1.3), REAR: (0.7, 1.7)}
        trans = {
            WALK: {PAUSE: 0.35, TURN: 0.35, REAR: 0.30},
            PAUSE: {WALK: 0.60, TURN: 0.25, REAR: 0.15},
            TURN: {WALK: 0.70, PAUSE: 0.15, REAR: 0.15},
            REAR: {WALK: 0.40, PAUSE: 0.30, TURN: 0.30},
        }
        unvisited = {PAUSE, TURN, REAR}
        state, left = WALK, 0
        target_v = target_w = 0.0
        out = {name: np.empty(n) for name in ("x", "y", "theta", "rear", "curl", "phase",
                                               "bend")}
        states = np.empty(n, dtype=np.int8)

        def begin(s: int) -> tuple[int, float, float]:
            lo, hi = durations[s]
            frames = max(1, int(round(rng.uniform(lo, hi) * fps)))
            tv = tw = 0.0
            if s == WALK:
                tv = rng.uniform(45.0, 120.0) / fps * k      # px/frame: 1.5-4 at 30 fps
            elif s == TURN:
                tv = 0.2 * k * dt
                # Turn towards the arena centre when away from it, else a random side.
                to_c = math.atan2(-(cy - y), cx - x)
                side = _wrap(to_c - theta)
                sign = (1.0 if side > 0 else -1.0) if math.hypot(x - cx, y - cy) > 0.4 * r_soft \
                    else float(rng.choice([-1.0, 1.0]))
                tw = sign * rng.uniform(0.05, 0.10) * dt
            return frames, tv, tw

        for i in range(n):
            ambiguous = i < spec.ambiguous_start_frames
            if ambiguous:
                state = PAUSE
                target_v = target_w = 0.0
            elif left <= 0:
                if i in (0, spec.ambiguous_start_frames):
                    state = WALK
                elif unvisited - {state}:
                    state = int(rng.choice(sorted(unvisited - {state})))
                else:
                    keys = sorted(trans[state])
                    p = np.array([trans[state][s] for s in keys])
                    state = int(rng.choice(keys, p=p / p.sum()))
                unvisited.discard(state)
                left, target_v, target_w = begin(state)
            left -= 1
            # Smooth speed / angular velocity towards the state's targets.
            if state == WALK:
                wander += -0.1 * dt * wander + 0.006 * math.sqrt(dt) * rng.standard_normal()
                tw = wander
            else:
                wander *= 0.8
                tw = target_w
            v += min(1.0, 0.15 * dt) * (target_v - v)
            w += min(1.0, 0.2 * dt) * (tw - w)
            rear += min(1.0, 0.18 * dt) * ((1.0 if state == REAR else 0.0) - rear)
            if not ambiguous:
                curl += min(1.0, 0.12 * dt) * (0.0 - curl)
            # Steer away from the wall: look ahead along the heading.
            ux, uy = math.cos(theta), -math.sin(theta)
            look = 12.0 * k + 8.0 * v
            ax, ay = x + look * ux, y + look * uy
            d_ahead = math.hypot(ax - cx, ay - cy)
            steer = 0.0
            if d_ahead > r_soft and state in (WALK, TURN):
                to_c = math.atan2(-(cy - y), cx - x)
                err = _wrap(to_c - theta)
                gain = min(1.0, (d_ahead - r_soft) / (15.0 * k))
                steer = float(np.clip(0.08 * dt * gain * err, -0.08 * dt, 0.08 * dt))
                v *= 1.0 - 0.1 * gain
            dtheta = float(np.clip(w + steer, -0.15 * dt, 0.15 * dt))
            if state == PAUSE or ambiguous:
                dtheta += 0.004 * rng.standard_normal()
            theta = float(_wrap(theta + dtheta))
            ux, uy = math.cos(theta), -math.sin(theta)
            step = v
            x += step * ux
            y += step * uy
            if state == PAUSE and not ambiguous:
                x += 0.05 * k * rng.standard_normal()
                y += 0.05 * k * rng.standard_normal()
            d = math.hypot(x - cx, y - cy)
            if d > r_hard:                       # last resort: stay on the floor
                x = cx + (x - cx) * r_hard / d
                y = cy + (y - cy) * r_hard / d
            tail_phase += (0.12 + 0.04 * v / k) * dt
            tail_bend += 0.2 * dt * (-w * 40.0 - tail_bend)
            out["x"][i], out["y"][i], out["theta"][i] = x, y, theta
            out["rear"][i], out["curl"][i] = rear, curl
            out["phase"][i], out["bend"][i] = tail_phase, tail_bend
            states[i] = state
        return _Trajectory(out["x"], out["y"], out["theta"], out["rear"], out["curl"], states,
                           out["phase"], out["bend"])

    # ------------------------------------------------------------------ mouse
    def _levels(self, i: int) -> tuple[int, int]:
        """Quantised (rear, curl) posture levels of frame ``i``."""
        return (int(round(float(self._traj.rear[i]) * _REAR_LEVELS)),
                int(round(float(self._traj.curl[i]) * _CURL_LEVELS)))

    def _parts(self, levels: tuple[int, int]) -> list[tuple[float, float, float, float, float]]:
        """Ellipsoids (s centre, semi-length, semi-width px, peak height mm, nose taper)."""
        r, c = levels[0] / _REAR_LEVELS, levels[1] / _CURL_LEVELS
        g = self._scene.k * self.spec.mouse_scale
        rump = (-8.5 * g, 19.0 * g, (13.5 - 1.5 * c) * g, 46.0 - 8.0 * c, 0.0)
        thorax = ((7.5 - 6.0 * r - 4.0 * c) * g, (16.0 - 4.0 * r) * g, (11.0 + 0.5 * c) * g,
                  36.0 + 40.0 * r + 2.0 * c, 0.0)
        head = ((20.5 - 9.0 * r - 7.0 * c) * g, (10.0 - 1.5 * r) * g, (8.0 + 1.5 * c) * g,
                27.0 + 65.0 * r + 6.0 * c, 0.2)
        return [rump, thorax, head]

    def _template(self, levels: tuple[int, int]) -> tuple[np.ndarray, float, float]:
        """Body+head heights in the mouse frame, sampled every 1/_OVERSAMPLE px.

        Returns ``(T, s_min, t_min)``: T[row, col] is the height (mm, float32) at
        ``s = s_min + col / _OVERSAMPLE`` (along the heading), ``t = t_min + row /
        _OVERSAMPLE`` (across).
        """
        cached = self._templates.get(levels)
        if cached is not None:
            return cached
        parts = self._parts(levels)
        s_min = min(p[0] - p[1] for p in parts) - 2.0
        s_max = max(p[0] + p[1] for p in parts) + 2.0
        t_max = max(p[2] for p in parts) + 2.0
        ls = np.arange(s_min, s_max, 1.0 / _OVERSAMPLE)[None, :]
        lt = np.arange(-t_max, t_max + 0.5 / _OVERSAMPLE, 1.0 / _OVERSAMPLE)[:, None]
        out = np.zeros((lt.shape[0], ls.shape[1]))
        for s0, a, b, hmax, taper in parts:
            u = (ls - s0) / a
            h = hmax * np.sqrt(np.clip(1.0 - u * u - (lt / b) ** 2, 0.0, None))
            if taper:
                h *= 1.0 - taper * np.clip(u, 0.0, 1.0)
            np.maximum(out, h, out=out)
        entry = (out.astype(np.float32), float(s_min), float(-t_max))
        self._templates[levels] = entry
        return entry

    def _body_patch(self, i: int) -> tuple[int, int, np.ndarray] | None:
        """Body+head heights (mm, float32) over their bounding box: ``(x0, y0, patch)``."""
        tpl, s_min, t_min = self._template(self._levels(i))
        x, y, th = float(self._traj.x[i]), float(self._traj.y[i]), float(self._traj.theta[i])
        c, s = math.cos(th), math.sin(th)
        s_max = s_min + tpl.shape[1] / _OVERSAMPLE
        t_max = t_min + tpl.shape[0] / _OVERSAMPLE
        # local (s, t) -> image: x = px + s*cos + t*sin, y = py - s*sin + t*cos
        ext_x = abs(c) * (s_max - s_min) / 2 + abs(s) * (t_max - t_min) / 2
        ext_y = abs(s) * (s_max - s_min) / 2 + abs(c) * (t_max - t_min) / 2
        mid_s, mid_t = (s_min + s_max) / 2, (t_min + t_max) / 2
        mx, my = x + mid_s * c + mid_t * s, y - mid_s * s + mid_t * c
        x0 = max(0, int(math.floor(mx - ext_x)))
        x1 = min(self.width, int(math.ceil(mx + ext_x)) + 1)
        y0 = max(0, int(math.floor(my - ext_y)))
        y1 = min(self.height, int(math.ceil(my + ext_y)) + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        # Patch pixel (X, Y) -> template (col, row).
        o = _OVERSAMPLE
        ox, oy = x0 - x, y0 - y
        m = np.array([[o * c, -o * s, o * (ox * c - oy * s - s_min)],
                      [o * s, o * c, o * (ox * s + oy * c - t_min)]])
        patch = cv2.warpAffine(tpl, m, (x1 - x0, y1 - y0),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return x0, y0, patch

    def _tail_points(self, i: int) -> np.ndarray:
        """Tail centre line, (K, 2) float image coordinates, root first."""
        g = self._scene.k * self.spec.mouse_scale
        root = min(p[0] - 0.9 * p[1] for p in self._parts(self._levels(i)))
        kk = _TAIL_K
        ph, bend = float(self._traj.tail_phase[i]), float(self._traj.tail_bend[i])
        ls = root - 45.0 * g * kk
        lt = 4.5 * g * np.sin(ph - 2.2 * kk) * _TAIL_K12 + min(12.0, max(-12.0, bend)) * g * (
            kk * kk)
        x, y, th = float(self._traj.x[i]), float(self._traj.y[i]), float(self._traj.theta[i])
        c, s = math.cos(th), math.sin(th)
        pts = np.empty((len(kk), 2))
        pts[:, 0] = x + ls * c + lt * s
        pts[:, 1] = y - ls * s + lt * c
        return pts

    def _mouse_heights(self, i: int) -> tuple[int, int, np.ndarray] | None:
        """Rendered mouse heights incl. tail, rounded mm: ``(x0, y0, uint16 patch)``."""
        body = self._body_patch(i)
        if not self.spec.tail:
            if body is None:
                return None
            return body[0], body[1], np.rint(body[2]).astype(np.uint16)
        pts = self._tail_points(i)
        if body is not None:
            bx0, by0 = body[0], body[1]
            bx1, by1 = bx0 + body[2].shape[1], by0 + body[2].shape[0]
        else:
            bx0, by0, bx1, by1 = self.width, self.height, 0, 0
        x0 = max(0, min(bx0, int(math.floor(pts[:, 0].min())) - 3))
        y0 = max(0, min(by0, int(math.floor(pts[:, 1].min())) - 3))
        x1 = min(self.width, max(bx1, int(math.ceil(pts[:, 0].max())) + 4))
        y1 = min(self.height, max(by1, int(math.ceil(pts[:, 1].max())) + 4))
        if x1 <= x0 or y1 <= y0:
            return None
        canvas = np.zeros((y1 - y0, x1 - x0), dtype=np.uint16)
        fixed = np.rint((pts - [x0, y0]) * 16).astype(np.int32)
        thick = max(1, int(round(2 * self._scene.k * self.spec.mouse_scale)))
        half = len(fixed) // 2
        cv2.polylines(canvas, [fixed[half:]], False, int(round(self._tail_height - 3)), thick,
                      cv2.LINE_8, 4)
        cv2.polylines(canvas, [fixed[: half + 1]], False, int(round(self._tail_height)), thick,
                      cv2.LINE_8, 4)
        if body is not None:
            hb = np.rint(body[2]).astype(np.uint16)
            sub = canvas[by0 - y0: by1 - y0, bx0 - x0: bx1 - x0]
            np.maximum(sub, hb, out=sub)
        return x0, y0, canvas

    # ------------------------------------------------------------ ground truth
    def ground_truth(self) -> GroundTruth:
        """Per-frame truth (computed once from the mouse patches, no full frames)."""
        if self._gt is not None:
            return self._gt
        n = self.n_frames
        cols = {name: np.full(n, np.nan) for name in (
            "centroid_x", "centroid_y", "height_mean_mm", "length_px", "width_px")}
        area = np.zeros(n)
        for i in range(n):
            body = self._body_patch(i)
            if body is None:
                continue
            x0, y0, h = body
            mask = h > SILHOUETTE_MIN_HEIGHT_MM
            mom = cv2.moments(mask.view(np.uint8), binaryImage=True)
            if mom["m00"] <= 0:
                continue
            m00 = mom["m00"]
            cxx, cyy, cxy = mom["mu20"] / m00, mom["mu02"] / m00, mom["mu11"] / m00
            root = math.sqrt(4 * cxy ** 2 + (cxx - cyy) ** 2)
            lam1, lam2 = (cxx + cyy + root) / 2, max(0.0, (cxx + cyy - root) / 2)
            cols["centroid_x"][i] = x0 + mom["m10"] / m00
            cols["centroid_y"][i] = y0 + mom["m01"] / m00
            cols["length_px"][i], cols["width_px"][i] = 4 * math.sqrt(lam1), 4 * math.sqrt(lam2)
            cols["height_mean_mm"][i] = float(h[mask].mean(dtype=np.float64))
            area[i] = m00
        intrusion = np.zeros(n, dtype=bool)
        occluded = np.zeros(n)
        if self._case is not None:
            for i in range(n):
                layer = self._case.layer(i)
                intrusion[i] = layer.intrusion
                occluded[i] = occluded_fraction(self, i, layer)
        sc = self._scene
        self._gt = GroundTruth(
            centroid_x=cols["centroid_x"], centroid_y=cols["centroid_y"],
            angle=np.asarray(_wrap(self._traj.theta), dtype=np.float64),
            height_mean_mm=cols["height_mean_mm"], length_px=cols["length_px"],
            width_px=cols["width_px"], area_px=area, state=self._traj.state.copy(),
            timestamps_ms=self.timestamps_ms(), true_depth_mm=sc.depth0,
            background=sc.background.copy(), floor_mask=sc.floor_mask.copy(),
            arena_center=sc.center, arena_radius=sc.radius, camera=self.camera.name,
            fps=float(self.spec.fps), case=self.spec.case, intrusion=intrusion,
            occluded_fraction=occluded,
        )
        return self._gt

    def timestamps_ms(self) -> np.ndarray:
        """Frame timestamps (ms, float64, µs resolution): 1000/fps spacing, small jitter.

        Kinect sessions start at a device-clock value of a few 10^6 ms; others near 200 ms.
        """
        rng = np.random.default_rng([self.spec.seed, 3])
        start = rng.uniform(1e6, 5e6) if self.camera.name == "kinect" else rng.uniform(150, 250)
        period = 1000.0 / self.spec.fps
        jitter = np.clip(rng.normal(0.0, 0.25, self.n_frames), -0.3 * period, 0.3 * period)
        ts = start + period * np.arange(self.n_frames) + jitter
        return np.rint(ts * 1000.0) / 1000.0

    # -------------------------------------------------------------- rendering
    def _block_draws(self, b: int) -> list[tuple[int, int, int, np.ndarray]]:
        """Random draws of every frame in block ``b``: (bank, dy, dx, zero flat indices)."""
        if self._block_cache is not None and self._block_cache[0] == b:
            return self._block_cache[1]
        rng = np.random.default_rng([self.spec.seed, 5, b])
        sc, rate = self._scene, self.spec.dropout_rate
        m = min(_BLOCK, self.n_frames - b * _BLOCK)
        npx = self.height * self.width
        banks = rng.integers(_N_BANK, size=m)
        shifts = rng.integers(0, _BANK_PAD + 1, size=(m, 2))
        if rate > 0:
            groups = [(np.arange(npx), rate)]
            if len(sc.edge_idx):
                groups.append((sc.edge_idx, min(0.5, 40 * rate)))
            if len(sc.outside_idx):
                groups.append((sc.outside_idx, min(0.5, 5 * rate)))
            counts = np.stack([rng.binomial(len(pool), p, size=m) for pool, p in groups], 1)
            picks = [pool[rng.integers(0, len(pool), counts[:, g].sum())]
                     for g, (pool, _) in enumerate(groups)]
            per_frame = [np.split(pk, np.cumsum(counts[:-1, g]))
                         for g, pk in enumerate(picks)]
            zeros = [np.concatenate([pf[j] for pf in per_frame]) for j in range(m)]
        else:
            zeros = [np.empty(0, dtype=np.int64)] * m
        draws = [(int(banks[j]), int(shifts[j, 0]), int(shifts[j, 1]), zeros[j])
                 for j in range(m)]
        self._block_cache = (b, draws)
        return draws

    def render(self, start: int = 0, stop: int | None = None, *,
               out: np.ndarray | None = None) -> np.ndarray:
        """Render frames ``[start, stop)``.

        Parameters
        ----------
        start, stop : int
            Frame range (``stop`` defaults to the end of the session).
        out : ndarray, (>= stop - start, H, W) uint16, optional
            Buffer to render into (its first ``stop - start`` frames are used).

        Returns
        -------
        ndarray, (stop - start, H, W) uint16
            Depth in mm (0 = invalid).
        """
        stop = self.n_frames if stop is None else stop
        if not 0 <= start <= stop <= self.n_frames:
            raise ValueError(f"frame range [{start}, {stop}) outside 0..{self.n_frames}")
        H, W = self.height, self.width
        n = stop - start
        if out is None:
            out = np.empty((n, H, W), dtype=np.uint16)
        elif out.dtype != np.uint16 or out.shape[1:] != (H, W) or out.shape[0] < n:
            raise ValueError(f"out must be uint16 of shape (>= {n}, {H}, {W}), "
                             f"got {out.dtype} {out.shape}")
        out = out[:n]
        bg = self._bg_u16
        if self._bank is None and self.spec.noise_mm > 0:
            self._bank = self._build_noise_bank()
        static = self._scene.static_zero_idx
        for j, i in enumerate(range(start, stop)):
            bank, dy, dx, zeros = self._block_draws(i // _BLOCK)[i % _BLOCK]
            frame = out[j]
            if self._bank is not None:
                np.add(bg, self._bank[bank, dy: dy + H, dx: dx + W], out=frame)
            else:
                frame[...] = bg
            mouse = self._mouse_heights(i)
            if mouse is not None:
                x0, y0, hp = mouse
                sub = frame[y0: y0 + hp.shape[0], x0: x0 + hp.shape[1]]
                np.subtract(sub, hp, out=sub)
            flat = frame.reshape(-1)
            flat[static] = 0
            layer = None
            if self._case is not None:
                layer = self._case.layer(i)
                noise = (self._bank[bank, dy: dy + H, dx: dx + W]
                         if self._bank is not None else None)
                apply_layer(frame, layer, bg, noise)
            if len(zeros):
                flat[zeros] = 0
            if layer is not None and len(layer.zeros):
                flat[layer.zeros] = 0
        return out

    def case_layer(self, i: int) -> CaseLayer:
        """The :class:`~moseq2_extract.synthetic.cases.CaseLayer` of frame ``i`` (what the
        hard case draws; an empty layer for ``clean``)."""
        if not 0 <= i < self.n_frames:
            raise ValueError(f"frame {i} outside 0..{self.n_frames}")
        if self._case is None:
            return CaseLayer()
        return self._case.layer(i)

    def iter_chunks(self, chunk_size: int = 500, *, reuse_buffer: bool = False
                    ) -> Iterator[np.ndarray]:
        """Yield consecutive (n, H, W) uint16 chunks covering the session.

        With ``reuse_buffer`` every chunk is rendered into the same array (faster: no fresh
        memory per chunk); the consumer must use or copy a chunk before asking for the next.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        buf = None
        if reuse_buffer:
            buf = np.empty((min(chunk_size, self.n_frames), self.height, self.width),
                           dtype=np.uint16)
        for start in range(0, self.n_frames, chunk_size):
            yield self.render(start, min(self.n_frames, start + chunk_size), out=buf)


