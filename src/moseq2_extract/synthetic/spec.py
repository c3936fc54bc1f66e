"""What a synthetic session is asked to be (:class:`SessionSpec`) and what it truly shows
(:class:`GroundTruth`, saved next to its files); :mod:`.session` renders one from the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from moseq2_extract.camera import PRESETS
from moseq2_extract.errors import ConfigError
from moseq2_extract.paths import atomic_path

from .cases import CASES

# Behaviour state codes of GroundTruth.state.
WALK, PAUSE, TURN, REAR = 0, 1, 2, 3
STATE_NAMES: tuple[str, ...] = ("walk", "pause", "turn", "rear")

# Height (mm) above which a pixel belongs to the mouse's silhouette (extraction min_height).
SILHOUETTE_MIN_HEIGHT_MM = 10.0


@dataclass
class SessionSpec:
    """Parameters of a synthetic session.

    Attributes
    ----------
    n_frames : int
        Number of frames.
    fps : float
        Frame rate (frames/s); behaviour speeds and durations are defined per second.
    camera : str
        Camera preset of :mod:`moseq2_extract.camera` (``kinect`` 512x424, ``azure``
        640x576, ``realsense`` 640x480).
    seed : int
        Seed of every random choice; the same spec always gives the same frames.
    noise_mm : float
        Standard deviation of the Gaussian depth noise (mm); 0 = noise-free.
    dropout_rate : float
        Fraction of pixels set to 0 (invalid) per frame on the floor; wall edges get 40x
        and the outside 5x this rate.  0 = no per-frame dropout.
    mouse_scale : float
        Linear size factor of the mouse (1 = ~57 x 25 px at Kinect resolution).
    floor_tilt_deg : float
        Tilt of the floor plane relative to the image plane (degrees).
    ambiguous_start_frames : int
        The mouse starts motionless and curled (little head/rump asymmetry) for this many
        frames.
    start_time, subject_name, session_name : str
        Written to metadata.json (``StartTime``, ``SubjectName``, ``SessionName``).
    floor_depth_mm : float or None
        Floor depth under the arena centre; None = camera default (670 mm, Azure 600 mm).
    arena_radius_px : float or None
        Floor radius in Kinect-reference pixels; None = drawn in [150, 170].
    tail : bool
        Render the tail.
    case : str
        A hard case added to the clean session of the same seed (same mouse, trajectory,
        noise and scene; see :mod:`moseq2_extract.synthetic.cases`): ``clean`` (nothing),
        ``tether`` (a cable from a high anchor at the arena edge to the head), ``patch_cord``
        (a thin cord from the head up to a commutator above the arena centre), ``hand`` (an
        arm and hand reaching in at the start and once mid-session), ``dropouts`` (zeroed
        blobs, edge rings and row bands on the mouse).
    """

    n_frames: int = 900
    fps: float = 30.0
    camera: str = "kinect"
    seed: int = 0
    noise_mm: float = 1.5
    dropout_rate: float = 0.002
    mouse_scale: float = 1.0
    floor_tilt_deg: float = 2.0
    ambiguous_start_frames: int = 0
    start_time: str = "2026-01-01T12:00:00.0000000-05:00"
    subject_name: str = "mouse1"
    session_name: str = "session1"
    floor_depth_mm: float | None = None
    arena_radius_px: float | None = None
    tail: bool = True
    case: str = "clean"

    def validate(self) -> None:
        """Raise :class:`~moseq2_extract.errors.ConfigError` on an invalid value."""
        checks = [
            ("n_frames", isinstance(self.n_frames, (int, np.integer)) and self.n_frames >= 1,
             "an integer >= 1"),
            ("fps", self.fps > 0, "> 0"),
            ("camera", self.camera in PRESETS, f"one of {tuple(PRESETS)}"),
            ("noise_mm", 0 <= self.noise_mm <= 50, "in [0, 50]"),
            ("dropout_rate", 0 <= self.dropout_rate <= 0.02, "in [0, 0.02]"),
            ("mouse_scale", 0.5 <= self.mouse_scale <= 2.0, "in [0.5, 2]"),
            ("floor_tilt_deg", 0 <= self.floor_tilt_deg <= 10, "in [0, 10]"),
            ("ambiguous_start_frames", self.ambiguous_start_frames >= 0, ">= 0"),
            ("floor_depth_mm",
             self.floor_depth_mm is None or 300 <= self.floor_depth_mm <= 2000,
             "None or in [300, 2000]"),
            ("arena_radius_px",
             self.arena_radius_px is None or 100 <= self.arena_radius_px <= 190,
             "None or in [100, 190]"),
            ("case", self.case in CASES, f"one of {CASES}"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(
                    f"SessionSpec.{name}: expected {expected}, got {getattr(self, name)!r}")


@dataclass
class GroundTruth:
    """Per-frame truth of a synthetic session.

    Attributes
    ----------
    centroid_x, centroid_y : ndarray, (n,) float64
        Area centroid of the body+head silhouette (true height > 10 mm, tail excluded), in
        full-frame pixels (x = column, y = row).
    angle : ndarray, (n,) float64
        Heading (rad, wrapped to (-pi, pi]): the head points along ``(cos, -sin)`` in image
        coordinates (x right, y down), i.e. counter-clockwise-positive as displayed.
    height_mean_mm : ndarray, (n,) float64
        Mean true height (mm above the local floor) over the silhouette, before noise.
    length_px, width_px : ndarray, (n,) float64
        Full major / minor axis of the silhouette's equivalent ellipse (4 sqrt(eigenvalue)
        of the pixel-coordinate covariance).
    area_px : ndarray, (n,) float64
        Number of silhouette pixels.
    state : ndarray, (n,) int8
        Behaviour state (:data:`WALK`, :data:`PAUSE`, :data:`TURN`, :data:`REAR`).
    timestamps_ms : ndarray, (n,) float64
        Frame timestamps as written (ms).
    true_depth_mm : float
        Floor depth under the arena centre (mm).
    background : ndarray, (H, W) float32
        Noise-free background depth (mm; 0 = permanently invalid).
    floor_mask : ndarray, (H, W) bool
        Pixels of the arena floor (inside the wall).
    arena_center : tuple of float
        (x, y) of the arena centre, full-frame pixels.
    arena_radius : float
        Floor radius in pixels of this camera.
    camera : str
        Camera preset name.
    fps : float
        Frame rate.
    case : str
        The session's hard case (:attr:`SessionSpec.case`; ``clean`` in files without it).
    intrusion : ndarray, (n,) bool
        A hand/arm is in view (``hand`` case; all False otherwise and in older files).
    occluded_fraction : ndarray, (n,) float64
        Fraction of the silhouette pixels hidden by the case: covered by a nearer object
        (cable, connector, hand, arm) or zeroed by the case's dropouts.  The generic
        per-pixel dropout of ``dropout_rate`` is not counted.  0 in older files.

    The mouse's centroid, angle, heights and sizes are those of the mouse itself, whatever
    the case draws over it.
    """

    centroid_x: np.ndarray
    centroid_y: np.ndarray
    angle: np.ndarray
    height_mean_mm: np.ndarray
    length_px: np.ndarray
    width_px: np.ndarray
    area_px: np.ndarray
    state: np.ndarray
    timestamps_ms: np.ndarray
    true_depth_mm: float
    background: np.ndarray
    floor_mask: np.ndarray
    arena_center: tuple[float, float]
    arena_radius: float
    camera: str
    fps: float
    case: str = "clean"
    intrusion: np.ndarray | None = field(default=None)
    occluded_fraction: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        n = len(self.centroid_x)
        if self.intrusion is None:
            self.intrusion = np.zeros(n, dtype=bool)
        if self.occluded_fraction is None:
            self.occluded_fraction = np.zeros(n, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.centroid_x)

    def save(self, path: str | os.PathLike) -> Path:
        """Write to ``path`` (npz); returns the path."""
        path = Path(path)
        arrays = {}
        for f in fields(self):
            value = getattr(self, f.name)
            arrays[f.name] = np.asarray(value)
        with atomic_path(path, durable=False) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> GroundTruth:
        """Read a file written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        return cls(
            centroid_x=d["centroid_x"], centroid_y=d["centroid_y"], angle=d["angle"],
            height_mean_mm=d["height_mean_mm"], length_px=d["length_px"],
            width_px=d["width_px"], area_px=d["area_px"], state=d["state"],
            timestamps_ms=d["timestamps_ms"], true_depth_mm=float(d["true_depth_mm"]),
            background=d["background"], floor_mask=d["floor_mask"],
            arena_center=(float(d["arena_center"][0]), float(d["arena_center"][1])),
            arena_radius=float(d["arena_radius"]), camera=str(d["camera"]),
            fps=float(d["fps"]),
            case=str(d["case"]) if "case" in d else "clean",
            intrusion=d["intrusion"].astype(bool) if "intrusion" in d else None,
            occluded_fraction=(d["occluded_fraction"].astype(np.float64)
                               if "occluded_fraction" in d else None),
        )
