"""The output files of one extraction: the results h5 and the preview movie.

Both are written under temporary names and renamed into place only by
:meth:`SessionOutputs.finish`; :meth:`SessionOutputs.abort` removes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import __version__
from ..extract.results import ChunkResult
from ..roi.session import SessionRoi
from .plan import SessionPlan

if TYPE_CHECKING:  # imported at run time on the writer thread (see session._preload)
    from ..output.h5writer import ResultsWriter
    from ..output.movie import PreviewWriter

FLUSH_INTERVAL = 2.0  # seconds between flushes of the partial results file


@dataclass
class SessionOutputs:
    """The results file and the preview movie of one run (each under a temporary name)."""

    writer: ResultsWriter
    movie: PreviewWriter | None

    @classmethod
    def open(cls, plan: SessionPlan, arena: SessionRoi, executor: Executor,
             max_pending: int) -> SessionOutputs:
        """Create both files.

        Parameters
        ----------
        executor : Executor
            Where the movie's segments are encoded (the block workers).
        max_pending : int
            Movie segments that may be in flight at once.
        """
        from ..output.h5writer import ResultsWriter
        from ..output.movie import PreviewWriter

        config = plan.config
        writer = ResultsWriter(
            plan.paths.h5, n_frames=plan.n_frames, crop_size=config.crop_size,
            frame_dtype=config.frame_dtype,
            mask_dtype="float32" if config.use_tracking_model else "bool",
            acquisition_metadata=plan.session.metadata,
            parameters=plan.parameters, uuid=plan.uuid, roi=arena.roi,
            background=arena.background, first_frame=arena.first_frame,
            first_frame_idx=plan.first, last_frame_idx=plan.last,
            true_depth=arena.true_depth, timestamps=plan.timestamps, with_flips=True,
            extract_version=__version__, flush_interval=FLUSH_INTERVAL)
        if not config.write_movie:
            return cls(writer, None)
        y0, y1, x0, x1 = arena.bbox
        try:
            movie = PreviewWriter(plan.paths.movie, fps=config.fps,
                                  box_shape=(y1 - y0, x1 - x0),
                                  crop_size=config.crop_size[0],
                                  min_height=config.min_height, max_height=config.max_height,
                                  executor=executor, max_pending=max_pending,
                                  total_frames=plan.n_frames)
        except BaseException:
            writer.abort()
            raise
        return cls(writer, movie)

    def write(self, results: Sequence[ChunkResult], first: int) -> None:
        """Store finished frames (``first`` is the session's first extracted frame)."""
        for res in results:
            self.writer.write(res, int(res.frame_index[0]) - first)
            if self.movie is not None:
                self.movie.write(res.frames, res.box, res.frame_index)

    def finish(self, executor: Executor) -> None:
        """Rename both into place.  The h5 file is closed, synced and renamed on
        ``executor`` (the writer thread, done with both files by now) while the last movie
        segments are encoded and written here."""
        finalizing = executor.submit(self.writer.finalize)
        try:
            if self.movie is not None:
                self.movie.close(commit=False)
        except BaseException:
            with contextlib.suppress(BaseException):  # let the writer thread finish
                finalizing.result()
            raise
        try:
            finalizing.result()
        except BaseException:
            if self.movie is not None:  # no movie of results that were never completed;
                self.movie.abort()      # an earlier complete one stays
            raise
        if self.movie is not None:
            self.movie.commit()

    def abort(self) -> None:
        """Remove both temporary files."""
        self.writer.abort()
        if self.movie is not None:
            self.movie.abort()
