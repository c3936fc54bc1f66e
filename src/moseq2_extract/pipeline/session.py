"""``extract_session``: the streaming extraction of one recording.

Everything overlaps.  Blocks of frames are extracted by the workers (:mod:`.workers`: each
reads its own frames from the file and returns crops, masks and measures); the main thread
links finished blocks in time (:mod:`.schedule`, :mod:`.sequence`) in frame order; a writer
thread stores them in the h5 file and hands them to the preview movie, whose segments are
encoded on the same workers (:mod:`.outputs`).  Memory is bounded by the block size and the
heading look-ahead, never by the recording's length.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import Config, make_config
from ..errors import InputFileError
from ..extract.chunk import ChunkParams
from ..heading.classifier import load_flip_model
from ..io.convert import convert_to_avi
from ..output.status import input_record, is_complete, write_status
from ..paths import ResultsPaths, resolve_output_dir
from ..roi.session import SessionRoi, find_session_roi
from .blocks import BlockExtractor
from .lock import session_lock
from .outputs import SessionOutputs
from .plan import SessionPlan, plan_session
from .resume import Checkpoints, ResumeFiles, Snapshot, fingerprint, load_snapshot
from .schedule import Progress, block_size, stream_blocks
from .sequence import SequenceAssembler, assembler_for
from .workers import open_workers, opencv_threads

logger = logging.getLogger(__name__)


@dataclass
class ExtractionOutcome:
    """What :func:`extract_session` produced.

    Attributes
    ----------
    output_dir : Path
    h5_path, yaml_path : Path
    movie_path : Path or None
    n_frames : int
        Frames extracted.
    seconds : float
        Wall time (the compression of ``compress`` included).
    skipped : bool
        True when ``skip_completed`` found finished results.
    warnings : list of str
        Problems that did not stop the run (e.g. timestamp count mismatch).
    true_depth : float
    compressed : Path or None
        The lossless ``.avi`` copy of a ``.dat`` input written with ``compress``.
    resumed_from : int or None
        Rows kept from an interrupted run (None: started afresh).
    restart_reason : str or None
        Why an interrupted run's progress could not be continued (one line).
    """

    output_dir: Path
    h5_path: Path
    yaml_path: Path
    movie_path: Path | None
    n_frames: int = 0
    seconds: float = 0.0
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)
    true_depth: float = float("nan")
    compressed: Path | None = None
    resumed_from: int | None = None
    restart_reason: str | None = None

    @property
    def fps(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else float("nan")


def extract_session(
    input_file: str | os.PathLike,
    config: Config | dict | None = None,
    *,
    output_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    flip_model=None,
) -> ExtractionOutcome:
    """Extract one recording into ``<output_dir>/results_XX.{h5,yaml,mp4}``.

    Everything comes from ``config``: the flip classifier (``flip_classifier``) and the
    lossless compression of a ``.dat`` input afterwards (``compress``) included.

    Parameters
    ----------
    input_file : path
        ``depth.dat``, ``*.avi``, ``*.mkv`` or ``*.tar.gz`` / ``*.tgz``.
    config : Config or dict
        Parameters (validated with :func:`moseq2_extract.config.make_config`).
    output_dir : path, optional
        Defaults to ``config.output_dir`` (``proc``) resolved against the input's folder.
    progress : callable(done, total), optional
        Called after each written block.
    flip_model : callable, optional
        Overrides ``config.flip_classifier``: per-frame log-odds that the head points west
        in a crop.  Without either the training-free heading model is used.

    Returns
    -------
    ExtractionOutcome

    Raises
    ------
    ExtractionError
        On bad input (one-line message naming the file); nothing that looks like a result
        is left behind.
    KeyboardInterrupt
        Ctrl-C: the progress so far is kept under hidden names (:mod:`.resume`), and a
        rerun with ``resume`` (the default) continues from the last saved block.

    The output folder is locked for the run (:func:`~.lock.session_lock`): a second run
    on the same folder waits.
    """
    t0 = time.perf_counter()
    preload = _preload_for_workers()
    config = config if isinstance(config, Config) else make_config(config or {})
    input_file = Path(input_file)
    out_dir = resolve_output_dir(input_file, config.output_dir if output_dir is None
                                 else output_dir)
    paths = ResultsPaths.of(out_dir, config.bg_roi_index)
    outcome = ExtractionOutcome(out_dir, paths.h5, paths.yaml,
                                paths.movie if config.write_movie else None)
    if config.skip_completed and is_complete(paths.yaml) and paths.h5.exists():
        outcome.skipped = True
        return outcome
    if flip_model is None:
        flip_model = load_flip_model(config)
    plan = plan_session(input_file, config, paths)  # bad input fails before proc/ is made
    outcome.warnings.extend(plan.session.warnings)
    with session_lock(out_dir, paths.yaml.stem):
        if config.skip_completed and is_complete(paths.yaml) and paths.h5.exists():
            outcome.skipped = True  # finished by another run meanwhile
            return outcome
        snapshot = _resume_point(plan, outcome)
        if snapshot is not None:
            plan = replace(plan, uuid=snapshot.uuid)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not (is_complete(paths.yaml) and paths.h5.exists()):
            # an earlier complete result stays what the folder says until this run
            # replaces it: a run that fails (disk full, Ctrl-C) leaves it untouched
            _write_status(plan, complete=False)
        arena = _extract(plan, flip_model, progress, preload, snapshot, outcome)
        plan.parameters["true_depth"] = float(arena.true_depth)
        _write_status(plan, complete=True)
    outcome.true_depth, outcome.n_frames = arena.true_depth, plan.n_frames
    if config.compress and input_file.suffix.lower() == ".dat":
        outcome.compressed = convert_to_avi(input_file, chunk_size=config.compress_chunk_size,
                                            fps=config.fps, threads=config.compress_threads)
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _resume_point(plan: SessionPlan, outcome: ExtractionOutcome) -> Snapshot | None:
    """The snapshot of an interrupted run to continue (None: start afresh, saying why
    when there was one)."""
    files = ResumeFiles.of(plan.paths)
    if not plan.config.resume:
        if files.snapshot.exists():
            _restart(outcome, files, "resume is off")
        return None
    snapshot, why = load_snapshot(files, plan)
    if why is not None:
        _restart(outcome, files, why)
    return snapshot


def _restart(outcome: ExtractionOutcome, files: ResumeFiles, why: str) -> None:
    """Say (one line) why the interrupted run's progress in ``files`` is not continued."""
    outcome.restart_reason = why
    logger.warning("%s: starting afresh, not from the interrupted run's progress: %s",
                   outcome.h5_path, why)


def _write_status(plan: SessionPlan, *, complete: bool) -> None:
    write_status(plan.paths.yaml, complete=complete, metadata=plan.session.metadata,
                 parameters=plan.parameters, uuid=plan.uuid, durable=complete,
                 extra=input_record(plan.session))


def _extract(plan: SessionPlan, flip_model, progress: Progress | None,
             preload: threading.Thread, snapshot: Snapshot | None,
             outcome: ExtractionOutcome) -> SessionRoi:
    """Find the arena, then stream every block (from ``snapshot``'s, when given) into the
    output files."""
    config = plan.config
    # one OpenCV thread per worker: the workers are the parallelism
    with plan.session.open_reader(threads=config.threads) as reader, opencv_threads(1), \
            ThreadPoolExecutor(1, thread_name_prefix="write") as writer:
        arena = find_session_roi(reader, config, plan.paths.output_dir, camera=plan.camera,
                                 nframes=plan.session.nframes, defer_pictures=True,
                                 threads=plan.workers)
        extractor = BlockExtractor(reader, bbox=arena.bbox, background=arena.background,
                                   roi=arena.roi, params=ChunkParams.from_config(config),
                                   first=plan.first, last=plan.last)
        files = ResumeFiles.of(plan.paths)
        checkpoints = Checkpoints(plan.n_frames, movie=config.write_movie)
        fp = fingerprint(plan)
        if snapshot is not None and (tuple(snapshot.bbox) != tuple(arena.bbox)
                                     or snapshot.true_depth != float(arena.true_depth)):
            _restart(outcome, files, "the arena found now differs from the saved one")
            snapshot = None
        # worker processes are forked while this process runs no other thread's work (a
        # copy of a half-done import or of a lock held elsewhere would never finish): the
        # workers inherit PyAV, imported meanwhile; h5py and tifffile, which only this
        # process uses, are imported afterwards on the writer thread
        preload.join()
        with open_workers(plan.workers, extractor) as workers:
            # the proc/ pictures and the output files are made on the writer thread while
            # the first blocks are extracted; everything written later queues behind
            assert arena.write_pictures is not None  # deferred: this thread writes them
            pictures = writer.submit(arena.write_pictures)
            opening: Future[SessionOutputs] = Future()
            if snapshot is not None:
                try:
                    opening.set_result(SessionOutputs.open(
                        plan, arena, workers.executor, workers.count + 2, files=files,
                        checkpoints=checkpoints, fingerprint=fp, resume=snapshot))
                except (InputFileError, ValueError, OSError) as err:
                    _restart(outcome, files, str(err).splitlines()[0])
                    snapshot = None
            if snapshot is None:
                opening = writer.submit(SessionOutputs.open, plan, arena, workers.executor,
                                        workers.count + 2, files=files,
                                        checkpoints=checkpoints, fingerprint=fp)
            assembler = _assembler(plan, arena, flip_model)
            first, done = plan.first, 0
            if snapshot is not None:
                assembler.restore(snapshot.assembler)
                first, done = snapshot.first_block, snapshot.rows
                outcome.resumed_from = done
                logger.warning("%s: continuing an interrupted run: %d of %d frames kept, "
                               "extracting from frame %d", plan.paths.h5, done,
                               plan.n_frames, first)
            with _kept_or_removed_on_error(opening):
                stream_blocks(workers, assembler, first=first, last=plan.last,
                              block=block_size(config.chunk_size,
                                               tracking=config.use_tracking_model),
                              writer=writer,
                              write=lambda ready, candidate: opening.result().write(
                                  ready, plan.first, candidate),
                              progress=progress, done=done,
                              checkpoint=lambda rows, nxt: checkpoints.offer(
                                  assembler, rows, nxt))
                pictures.result()
                opening.result().finish(writer)
    return arena


def _assembler(plan: SessionPlan, arena: SessionRoi, flip_model) -> SequenceAssembler:
    y0, _, x0, _ = arena.bbox
    return assembler_for(plan.config, camera=plan.camera, true_depth=arena.true_depth,
                         box_origin=(x0, y0), flip_model=flip_model)


@contextlib.contextmanager
def _kept_or_removed_on_error(opening: Future[SessionOutputs]) -> Iterator[None]:
    """When the block fails, remove the output files (if they were opened); on Ctrl-C or
    an I/O failure (a full disk: the rerun after freeing space need not start from zero)
    keep what a rerun continues from (:meth:`SessionOutputs.suspend`)."""
    try:
        yield
    except BaseException as err:
        try:
            outputs: SessionOutputs | None = opening.result()
        except BaseException:  # the opening failed: it left nothing behind
            outputs = None
        if outputs is not None:
            if isinstance(err, (KeyboardInterrupt, OSError)):  # Ctrl-C, a full disk
                outputs.suspend()
            else:
                outputs.abort()
        raise


#: What the block workers use besides the extraction: the preview's encoder (PyAV).
_WORKER_MODULES = ("moseq2_extract.output.movie",)


def _preload_for_workers() -> threading.Thread:
    """Import :data:`_WORKER_MODULES` on a thread while the session is opened and its ROI
    found, so that the workers forked afterwards inherit them: imported once, not once
    per worker (PyAV is a twentieth of a second and some 20 MB of each process's own
    memory).  An import that fails here fails again, with its message, where it is
    used."""

    def run() -> None:
        for name in _WORKER_MODULES:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=run, name="preload", daemon=True)
    thread.start()
    return thread
