"""Synthetic depth sessions with known ground truth.

A seeded generator of realistic top-down depth recordings of one mouse in a round bucket:
the built-in example session and the data of the test suite.

Scene (all depths in millimetres from the camera, pinhole geometry, ``depth = local
background depth - height``):

* a floor plane about 670 mm away (600 mm for Azure) tilted by ``floor_tilt_deg``;
* a circular floor of radius ~150-170 px (Kinect pixels; other cameras scale it by their
  focal length / floor depth), surrounded by the bucket wall, seen from above as a ring whose
  depth falls towards the camera (``depth = floor * R / r``), then a thin rim;
* outside the bucket, a surface ~280 mm further away than the floor with permanent invalid
  (zero) patches;
* per frame: Gaussian depth noise (a bank of precomputed fields reused with random shifts),
  random zero pixels (more at the wall edges and outside), and a mouse.

The mouse is a height field made of three ellipsoids (rump, thorax, head; the rump is higher
and wider) plus a thin low tail that a 9x9 elliptical opening removes.  Its behaviour is a
seeded state machine of walking, pausing, turning in place and rearing, steered away from
the walls.

Ground truth (:class:`GroundTruth`) is measured on the mouse's body+head silhouette (pixels
whose true height exceeds 10 mm, tail excluded), sampled at pixel centres in full-frame
coordinates (x = column, y = row), i.e. as the extraction measures it.  The body+head
height field is a per-posture template (rearing / curling quantised to 1/48 and 1/24)
warped bilinearly to each frame's position and heading, so rendering and truth share it.
The heading ``angle`` follows spec section 4.10: the head points along
``(cos angle, -sin angle)`` in image coordinates (x right, y down).

Hard cases (``SessionSpec.case``, :mod:`.cases`): a tether, a patch cord, a hand reaching
in, or heavy dropouts on the mouse, drawn over the clean session of the same seed (same
mouse and truth); ``GroundTruth.intrusion`` and ``GroundTruth.occluded_fraction`` say where
the mouse is hidden.
"""


from .cases import CASES
from .files import session_metadata, write_session
from .session import SyntheticSession
from .spec import (
    PAUSE,
    REAR,
    STATE_NAMES,
    TURN,
    WALK,
    GroundTruth,
    SessionSpec,
)

__all__ = [
    "CASES",
    "STATE_NAMES",
    "WALK",
    "PAUSE",
    "TURN",
    "REAR",
    "SessionSpec",
    "GroundTruth",
    "SyntheticSession",
    "write_session",
    "session_metadata",
]

