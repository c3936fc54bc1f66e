"""The output files of one extraction: the results h5 and the preview movie.

Both are written under temporary names and renamed into place only by
:meth:`SessionOutputs.finish`; :meth:`SessionOutputs.abort` removes them, and
:meth:`SessionOutputs.suspend` (Ctrl-C) keeps what a rerun continues from
(:mod:`.resume`): the partial h5, the movie's saved segments and the last snapshot, which
:meth:`SessionOutputs.write` saves now and then.
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
from .resume import Candidate, Checkpoints, ResumeFiles, Snapshot

if TYPE_CHECKING:  # imported at run time, on the writer thread
    from ..output.h5writer import ResultsWriter
    from ..output.movie import PreviewWriter, SegmentLog

FLUSH_INTERVAL = 2.0  # seconds between flushes of the partial results file


@dataclass
class SessionOutputs:
    """The results file and the preview movie of one run (each under a temporary name)."""

    writer: ResultsWriter
    movie: PreviewWriter | None
    files: ResumeFiles | None = None
    checkpoints: Checkpoints | None = None
    snapshot_base: dict | None = None  # Snapshot fields fixed for the run
    segment_log: SegmentLog | None = None
    resumable: bool = False  # a snapshot of this run's files is on disk
    _candidate: Candidate | None = None

    @classmethod
    def open(cls, plan: SessionPlan, arena: SessionRoi, executor: Executor,
             max_pending: int, *, files: ResumeFiles | None = None,
             checkpoints: Checkpoints | None = None,
             fingerprint: dict | None = None,
             resume: Snapshot | None = None) -> SessionOutputs:
        """Create both files (or reopen those of ``resume``).

        Parameters
        ----------
        executor : Executor
            Where the movie's segments are encoded (the block workers).
        max_pending : int
            Movie segments that may be in flight at once.
        files : ResumeFiles, optional
            Where snapshots go (none are written without).
        checkpoints : Checkpoints, optional
            Shared with the block loop, which offers the candidates.
        fingerprint : dict, optional
            :func:`~.resume.fingerprint` of the run, saved in each snapshot.
        resume : Snapshot, optional
            Continue the files of an interrupted run after ``resume.rows`` rows.

        Raises
        ------
        InputFileError, ValueError, OSError
            With ``resume``: the interrupted run's files cannot be continued (nothing was
            changed then; start afresh).
        """
        from ..output.h5writer import ResultsWriter
        from ..output.movie import PreviewWriter, SegmentLog, read_segment_log

        config = plan.config
        log = None
        restored = None
        if resume is None:
            if files is not None:
                files.remove()  # never a snapshot beside files it does not describe
        else:
            assert files is not None
            if config.write_movie:
                restored = read_segment_log(files.segments, resume.segments_bytes)
                if sum(n for _, n, _ in restored) != resume.rows:
                    raise ValueError(f"{files.segments}: the saved movie segments do not "
                                     f"end at row {resume.rows}")
        if resume is not None:
            writer, _ = ResultsWriter.resume(
                plan.paths.h5, rows=resume.rows, checksums=resume.checksums,
                parameters=plan.parameters, flush_interval=FLUSH_INTERVAL)
        else:
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
        base = None
        if files is not None and fingerprint is not None:
            base = dict(fingerprint=fingerprint, uuid=writer.uuid,
                        bbox=tuple(int(v) for v in arena.bbox),
                        true_depth=float(arena.true_depth))
        if not config.write_movie:
            return cls(writer, None, files, checkpoints, base, resumable=resume is not None)
        y0, y1, x0, x1 = arena.bbox
        try:
            if files is not None:
                log = (SegmentLog(files.segments) if resume is None else
                       SegmentLog(files.segments, keep=resume.segments_bytes,
                                  frames=resume.rows))
            movie = PreviewWriter(plan.paths.movie, fps=config.fps,
                                  box_shape=(y1 - y0, x1 - x0),
                                  crop_size=config.crop_size[0],
                                  min_height=config.min_height, max_height=config.max_height,
                                  executor=executor, max_pending=max_pending,
                                  total_frames=plan.n_frames, segment_log=log,
                                  restored=restored)
        except BaseException:
            if log is not None:
                log.close()
            if resume is None:
                writer.abort()
            else:
                writer.close()
            raise
        return cls(writer, movie, files, checkpoints, base, log, resumable=resume is not None)

    def write(self, results: Sequence[ChunkResult], first: int,
              candidate: Candidate | None = None) -> None:
        """Store finished frames (``first`` is the session's first extracted frame), and
        save a snapshot when one is due.

        Parameters
        ----------
        candidate : Candidate, optional
            The block loop's state once ``results`` are handed out (see
            :class:`~.resume.Checkpoints`): saved when the rows and the movie's segments it
            vouches for are on the disk.
        """
        for res in results:
            self.writer.write(res, int(res.frame_index[0]) - first)
            if self.movie is not None:
                self.movie.write(res.frames, res.box, res.frame_index)
        if candidate is not None and self.snapshot_base is not None:
            candidate.checksums = self.writer.checksums
            self._candidate = candidate
        self._save_snapshot()

    def _save_snapshot(self) -> None:
        cand = self._candidate
        if cand is None or self.files is None or self.snapshot_base is None:
            return
        if self.movie is not None and self.movie.frames_written < cand.rows:
            return  # its segments are still being encoded
        segments = 0
        if self.segment_log is not None:
            segments = self.segment_log.sync(cand.rows)
        self.writer.flush(durable=True)
        Snapshot(rows=cand.rows, next_frame=cand.next_frame, assembler=cand.assembler,
                 checksums=cand.checksums, segments_bytes=segments,
                 **self.snapshot_base).save(self.files.snapshot)
        self.resumable = True
        self._candidate = None
        if self.checkpoints is not None:
            self.checkpoints.saved()

    def finish(self, executor: Executor) -> None:
        """Rename both into place.  The h5 file is closed, synced and renamed on
        ``executor`` (the writer thread, done with both files by now) while the last movie
        segments are encoded and written here."""
        self._drop_resume_files()
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

    def _drop_resume_files(self) -> None:
        self.resumable = False
        if self.segment_log is not None:
            self.segment_log.close()
            self.segment_log = None
            if self.movie is not None:
                self.movie.segment_log = None
        if self.files is not None:
            self.files.remove()

    def abort(self) -> None:
        """Remove both temporary files (and what a rerun could continue from)."""
        self.writer.abort()
        if self.movie is not None:
            self.movie.abort()
        self._drop_resume_files()

    def suspend(self) -> None:
        """Stop (Ctrl-C, an I/O failure), keeping what a rerun continues from: the
        partial results file, the movie's saved segments and the last snapshot (the
        partial movie is removed; a rerun writes the saved segments into a new one).
        Without a snapshot on the disk this is :meth:`abort`."""
        if not self.resumable:
            self.abort()
            return
        with contextlib.suppress(Exception):  # a full disk: the rows are checked on resume
            self.writer.close()
        if self.movie is not None:
            self.movie.segment_log = None
            self.movie.abort()
        if self.segment_log is not None:
            self.segment_log.close()
            self.segment_log = None
