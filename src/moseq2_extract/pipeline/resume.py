"""Resuming an interrupted extraction from its last saved block.

While a session is extracted, the results file grows under its temporary name
(``.results_XX.h5.partial``) and the preview movie's encoded segments are appended to
``.results_XX.mp4.segments``.  Every :data:`SNAPSHOT_INTERVAL` seconds, at a block boundary
where the movie's segments end too, a :class:`Snapshot` is written atomically to
``.results_XX.resume`` once the rows and segments it vouches for are synced to the disk:
the state that links those frames to the next ones (:meth:`~.sequence.SequenceAssembler.state`:
heading model, axis unwrapping, velocities, Hampel history), the number of rows written
with their checksums, and a :func:`fingerprint` of the input and the parameters.

A rerun with the same input and parameters (:func:`load_snapshot`) reopens the partial
file after those rows, puts the saved segments back into a new movie, restores the
assembler and extracts the blocks from the first one whose heading was still undecided:
blocks depend only on the recording (every worker reads its own halo and warm-up frames),
so the results are those of an uninterrupted run.  Anything else starts afresh, with one
line saying why.

The snapshot is a pickle: like the partial results file it is this program's own working
file in the output folder, never read from anywhere else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..paths import ResultsPaths, write_bytes_atomic
from .sequence import AssemblerState, SequenceAssembler

logger = logging.getLogger(__name__)

SNAPSHOT_INTERVAL = 5.0  # seconds between snapshots (the first one as soon as possible)
FORMAT = 1  # version of the snapshot's layout

#: Parameters that decide nothing in the results (where they go, how fast, what else is
#: done): a rerun that changes only these still continues.
NOT_IN_RESULTS = frozenset({
    "progress_bar", "config_file", "output_dir", "threads", "delete", "output_file",
    "cluster_type", "skip_completed", "compress", "compress_threads", "compress_chunk_size",
    "workers", "resume", "session_config_path", "skip_checks", "extensions",
    "extract_out_script", "prefix", "ncpus", "memory", "wall_time", "partition", "get_cmd",
    "run_cmd", "scheduler_address", "local_workers", "slurm_submit", "job_extra_directives",
    "slurm_jobs", "slurm_log_directory",
})


@dataclass(frozen=True)
class ResumeFiles:
    """The working files that let an interrupted run of ``results_XX`` continue.

    Attributes
    ----------
    snapshot : Path
        ``.results_XX.resume``.
    segments : Path
        ``.results_XX.mp4.segments``, the movie's encoded segments so far.
    """

    snapshot: Path
    segments: Path

    @classmethod
    def of(cls, paths: ResultsPaths) -> ResumeFiles:
        stem = paths.yaml.stem
        return cls(paths.output_dir / f".{stem}.resume",
                   paths.output_dir / f".{paths.movie.name}.segments")

    def remove(self) -> None:
        """Delete both (the snapshot first: segments without it are never trusted)."""
        self.snapshot.unlink(missing_ok=True)
        self.segments.unlink(missing_ok=True)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(plan: Any) -> dict[str, Any]:
    """What must be equal for a snapshot to be continued: this program's version, the
    input file (size, modification time), its timestamps and metadata, and every
    parameter that decides the results.

    Parameters
    ----------
    plan : SessionPlan
    """
    stat = os.stat(plan.input_file)
    ts = plan.timestamps
    params = {k: v for k, v in plan.parameters.items()
              if k not in NOT_IN_RESULTS and k != "true_depth"}
    flip = plan.config.flip_classifier
    flip_file = None
    if flip and os.path.isfile(flip):
        fst = os.stat(flip)
        flip_file = [fst.st_size, fst.st_mtime_ns]
    return {
        "version": __version__,
        "input": {"path": str(Path(plan.input_file).resolve()), "size": stat.st_size,
                  "mtime_ns": stat.st_mtime_ns},
        "timestamps": None if ts is None else _digest(np.ascontiguousarray(ts).tobytes()),
        "metadata": _digest(json.dumps(plan.session.metadata, sort_keys=True,
                                       default=str).encode()),
        "flip_classifier_file": flip_file,
        "frames": [int(plan.first), int(plan.last)],
        "parameters": json.loads(json.dumps(params, sort_keys=True, default=str)),
    }


def difference(saved: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why a snapshot with fingerprint ``saved`` cannot be continued now (None: it can)."""
    if saved.get("version") != now["version"]:
        return f"it was made by version {saved.get('version')} (this is {now['version']})"
    if saved.get("input") != now["input"]:
        was, new = saved.get("input") or {}, now["input"]
        if was.get("path") != new["path"]:
            return f"it was made from {was.get('path')}"
        return (f"the input changed since (size {was.get('size')} -> {new['size']} bytes"
                + (", modified" if was.get("mtime_ns") != new["mtime_ns"] else "") + ")")
    for key, what in (("timestamps", "timestamps"), ("metadata", "metadata.json"),
                      ("flip_classifier_file", "flip classifier file"),
                      ("frames", "frame range")):
        if saved.get(key) != now[key]:
            return f"the input's {what} changed since"
    was, new = saved.get("parameters") or {}, now["parameters"]
    changed = sorted(k for k in set(was) | set(new) if was.get(k) != new.get(k))
    if changed:
        shown = ", ".join(f"{k}: {_short(was.get(k))} -> {_short(new.get(k))}"
                          for k in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"parameters differ ({shown}{more})"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 30 else text[:27] + "..."


@dataclass
class Candidate:
    """The state after a batch of rows was handed out, waiting to be saved.

    Attributes
    ----------
    rows : int
        Rows handed out (from the first extracted frame).
    next_frame : int
        First frame not yet added to the assembler (absolute).
    assembler : AssemblerState
    checksums : dict or None
        Filled in on the writer thread, right after the rows were written.
    """

    rows: int
    next_frame: int
    assembler: AssemblerState
    checksums: dict[str, int] | None = None


@dataclass
class Snapshot:
    """What ``.results_XX.resume`` holds (see the module's description).

    Attributes
    ----------
    fingerprint : dict
        :func:`fingerprint` of the run.
    uuid : str
        The partial results file's uuid.
    bbox : (y0, y1, x0, x1)
        The arena's bounding box.
    true_depth : float
    rows : int
        Rows of the partial file (and frames of the saved movie segments) to keep.
    next_frame : int
        First frame not yet added to the assembler (absolute).
    assembler : AssemblerState
    checksums : dict or None
        crc32 of the kept rows of each per-frame dataset.
    segments_bytes : int
        Bytes of ``.results_XX.mp4.segments`` to keep (0 without a movie).
    """

    fingerprint: dict[str, Any]
    uuid: str
    bbox: tuple[int, int, int, int]
    true_depth: float
    rows: int
    next_frame: int
    assembler: AssemblerState
    checksums: dict[str, int] | None
    segments_bytes: int
    format: int = FORMAT

    @property
    def first_block(self) -> int:
        """First frame to extract again: the first pending block's, else ``next_frame``."""
        pending = self.assembler.pending
        return int(pending[0][0][0]) if pending else int(self.next_frame)

    def save(self, path: Path) -> None:
        write_bytes_atomic(path, pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))


def load_snapshot(files: ResumeFiles, plan: Any) -> tuple[Snapshot | None, str | None]:
    """The snapshot an interrupted run of ``plan`` left, if it can be continued.

    Returns
    -------
    (snapshot, why_not)
        ``(snapshot, None)`` to continue; ``(None, reason)`` when there is one that cannot
        be (the reason is one line); ``(None, None)`` when there is none.
    """
    if not files.snapshot.exists():
        return None, None
    try:
        snap = pickle.loads(files.snapshot.read_bytes())
        if not isinstance(snap, Snapshot) or snap.format != FORMAT:
            raise ValueError("an unknown layout")
    except Exception as err:  # noqa: BLE001 - any unreadable snapshot: start afresh
        return None, f"{files.snapshot} cannot be read ({type(err).__name__}: {err})"
    why = difference(snap.fingerprint, fingerprint(plan))
    if why is not None:
        return None, why
    return snap, None


@dataclass
class Checkpoints:
    """When the block loop offers a :class:`Candidate` (used on its thread) and when one
    was last saved (by the writer thread).

    Parameters
    ----------
    n_frames : int
        Frames of the run.
    movie : bool
        Whether a preview movie is written: candidates then fall on its segments' ends.
    interval : float
        Seconds between snapshots.
    """

    n_frames: int
    movie: bool
    interval: float = SNAPSHOT_INTERVAL
    last: float = -math.inf
    waiting: bool = False
    _ends: set[int] | None = field(default=None, repr=False)

    def _aligned(self, rows: int) -> bool:
        if not self.movie:
            return True
        if self._ends is None:
            from ..output.movie import segment_plan

            self._ends = set(np.cumsum(segment_plan(self.n_frames)).tolist())
        return rows in self._ends

    def offer(self, assembler: SequenceAssembler, rows: int, next_frame: int
              ) -> Candidate | None:
        """A candidate for the rows handed out so far, when one is due."""
        if (self.waiting or rows <= 0 or rows >= self.n_frames
                or time.monotonic() - self.last < self.interval or not self._aligned(rows)):
            return None
        self.waiting = True
        return Candidate(rows, next_frame, assembler.state())

    def saved(self) -> None:
        self.waiting = False
        self.last = time.monotonic()
