"""Height frames of synthetic sessions over the arena's box, for the EM tracker tests."""

from __future__ import annotations

from moseq2_extract.synthetic import SessionSpec
from moseq2_extract.synthetic.box import BoxFrames
from moseq2_extract.synthetic.box import box_frames as _box_frames

MIN_HEIGHT, MAX_HEIGHT = 10.0, 100.0


def box_frames(case: str, n_frames: int, *, seed: int = 0, tail_filter: bool = True,
               **spec: object) -> BoxFrames:
    """``spec``: further :class:`SessionSpec` fields."""
    return _box_frames(SessionSpec(n_frames=n_frames, seed=seed, case=case,
                                   **spec),  # type: ignore[arg-type]
                       min_height=MIN_HEIGHT, max_height=MAX_HEIGHT, tail_filter=tail_filter)
