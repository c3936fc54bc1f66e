"""Units of batch work: extraction jobs, their results, SLURM command lines.

An :class:`ExtractJob` is a small picklable record (paths + plain config values) that any
runner -- in-process, a local Dask cluster, SLURM workers -- executes with :func:`run_job`,
which never raises: a failing session comes back as a :class:`JobResult` carrying its error,
so it never stops the others.

:func:`run_job` holds an exclusive lock on the session's output (``.results_XX.lock``)
while it extracts (:func:`~moseq2_extract.pipeline.lock.session_lock`, which ``extract``
takes too), so two runs can never write the same session at once (for example a rerun
started while a worker of a killed run is still busy); the lock dies with its process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import socket
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import EXTRA_KEYS, PARAM_BY_KEY, Config, make_config, read_config_file
from ..errors import ExtractionError
from ..paths import write_text_atomic, write_yaml_atomic
from ..pipeline.lock import session_lock
from .discovery import COMPLETE, FoundSession, describe_session

logger = logging.getLogger(__name__)

DONE = "done"
SKIPPED = "skipped"
FAILED = "failed"

__all__ = [
    "DONE",
    "FAILED",
    "SKIPPED",
    "ExtractJob",
    "JobResult",
    "load_session_configs",
    "plan_jobs",
    "run_job",
    "sbatch_command",
    "summary_table",
    "write_sbatch_script",
]


# ------------------------------------------------------------------------------------------
# records
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExtractJob:
    """One session to extract.

    Attributes
    ----------
    input_file : str
        Depth file or archive.
    config : dict
        Plain parameter values (validated again by the worker).
    output_dir : str or None
        Output folder (None: ``config['output_dir']`` resolved against the input).
    name : str
        Session name for reports.
    skip_if_complete : bool
        Do nothing when the session is already complete when the job starts.
    """

    input_file: str
    config: dict[str, Any]
    output_dir: str | None = None
    name: str = ""
    skip_if_complete: bool = True

    def with_config(self, **changes: Any) -> ExtractJob:
        """A copy whose config has ``changes`` applied."""
        return replace(self, config={**self.config, **changes})


@dataclass
class JobResult:
    """What became of one session.

    Attributes
    ----------
    input_file, name : str
    status : str
        ``'done'``, ``'skipped'`` or ``'failed'``.
    output_dir : str or None
    n_frames : int
        Frames extracted (0 unless done).
    seconds : float
        Wall time of the job.
    host, worker : str
        Where it ran (host name; Dask worker name or process id).
    error : str or None
        One-line error of a failed job (or the reason of a skip).
    traceback : str or None
        Full traceback of a failed job.
    warnings : list of str
        Problems that did not stop the extraction.
    """

    input_file: str
    name: str
    status: str
    output_dir: str | None = None
    n_frames: int = 0
    seconds: float = 0.0
    host: str = ""
    worker: str = ""
    error: str | None = None
    traceback: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != FAILED


# ------------------------------------------------------------------------------------------
# planning
# ------------------------------------------------------------------------------------------
def load_session_configs(path: str | os.PathLike | None) -> dict[str, dict[str, Any]]:
    """Per-session configs (``session_config_path``): session folder name -> config dict.

    Returns ``{}`` when ``path`` is None or missing (logged).
    """
    if not path:
        return {}
    if not Path(path).is_file():
        logger.warning("session_config_path %s does not exist; ignored", path)
        return {}
    data = read_config_file(path)
    return {str(k): dict(v) for k, v in data.items() if isinstance(v, Mapping)}


def _session_values(config: Mapping[str, Any], session: FoundSession,
                    session_configs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    values = dict(config)
    entry = session_configs.get(session.name) or session_configs.get(session.depth_file.parent
                                                                     .name)
    if entry:
        for key, value in entry.items():
            if key in ("output_dir", "input_dir", "output_file", "session_config_path"):
                continue
            if key in PARAM_BY_KEY or key in EXTRA_KEYS:
                values[key] = value
            else:
                logger.debug("session config of %s: key %s ignored", session.name, key)
    return values


def plan_jobs(
    sessions: Iterable[FoundSession],
    config: Config | Mapping[str, Any],
    *,
    skip_checks: bool | None = None,
    output_dir: str | os.PathLike | None = None,
) -> tuple[list[ExtractJob], list[JobResult]]:
    """Turn discovered sessions into jobs, and report those not to run.

    Rules (the original's, spec 1.4): a complete session is skipped unless ``skip_checks``
    is set and ``skip_completed`` is not; a session without ``metadata.json`` is skipped
    unless ``skip_checks`` (archives carry theirs); a session whose output folder belongs
    to another one is skipped.  Per-session configs (``session_config_path``) are merged
    over ``config`` (every key they set wins).

    Returns
    -------
    (jobs, skipped)
        Jobs in session order, and ``skipped`` results with the reason in ``error``.
    """
    values = config.to_dict() if isinstance(config, Config) else dict(config)
    if skip_checks is None:
        skip_checks = bool(values.get("skip_checks", False))
    skip_completed = bool(values.get("skip_completed", False))
    session_configs = load_session_configs(values.get("session_config_path"))
    jobs, skipped = [], []
    for s in sessions:
        reason = None
        if s.conflict is not None:
            reason = f"shares its output folder with {s.conflict}"
        elif s.complete and (skip_completed or not skip_checks):
            reason = "already complete"
        elif not s.has_metadata and not skip_checks:
            reason = "no metadata.json (use --skip-checks to extract anyway)"
        if reason is not None:
            skipped.append(JobResult(str(s.depth_file), s.name, SKIPPED,
                                     output_dir=str(s.output_dir), error=reason))
            continue
        job_values = _session_values(values, s, session_configs)
        resume = skip_completed or not skip_checks
        job_values["skip_completed"] = resume
        job_values.pop("session_config_path", None)
        out = str(output_dir) if output_dir is not None else str(s.output_dir)
        jobs.append(ExtractJob(str(s.depth_file), job_values, output_dir=out, name=s.name,
                               skip_if_complete=resume))
    return jobs, skipped


# ------------------------------------------------------------------------------------------
# running one job
# ------------------------------------------------------------------------------------------
_WATCHDOG_STARTED = False


def die_with_parent(interval: float = 0.5) -> None:
    """End this process as soon as its parent process is gone.

    Worker processes of a local cluster call this, so killing a batch run (even with
    SIGKILL) stops its extractions instead of leaving orphans that keep writing.  A daemon
    thread checks the parent's pid every ``interval`` seconds; calling it again does
    nothing.
    """
    global _WATCHDOG_STARTED
    if _WATCHDOG_STARTED:
        return
    _WATCHDOG_STARTED = True
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _where() -> tuple[str, str]:
    host = socket.gethostname()
    try:
        from distributed import get_worker

        return host, str(get_worker().name)
    except (ImportError, ValueError):
        return host, f"pid {os.getpid()}"


def run_job(job: ExtractJob, *, progress=None) -> JobResult:
    """Extract one session; never raises for a failing session.

    Parameters
    ----------
    job : ExtractJob
    progress : callable(done, total), optional
        Passed to the extraction.

    Returns
    -------
    JobResult
        ``done`` / ``skipped`` with counts, or ``failed`` with the error and traceback.
    """
    from ..pipeline.session import extract_session

    t0 = time.perf_counter()
    host, worker = _where()
    result = JobResult(job.input_file, job.name or Path(job.input_file).parent.name, FAILED,
                       output_dir=job.output_dir, host=host, worker=worker)
    try:
        config = make_config(job.config, source=job.input_file)
        session = describe_session(job.input_file, output_dir=job.output_dir or
                                   config.output_dir, bg_roi_index=config.bg_roi_index)
        result.output_dir = str(session.output_dir)
        with session_lock(session.output_dir, session.yaml_path.stem):
            if job.skip_if_complete and describe_session(
                    job.input_file, output_dir=session.output_dir,
                    bg_roi_index=config.bg_roi_index).status == COMPLETE:
                result.status, result.error = SKIPPED, "already complete"
            else:
                outcome = extract_session(job.input_file, config,
                                          output_dir=session.output_dir, progress=progress)
                result.status = SKIPPED if outcome.skipped else DONE
                if outcome.skipped:
                    result.error = "already complete"
                result.n_frames = outcome.n_frames
                result.warnings = list(outcome.warnings)
    except Exception as err:  # noqa: BLE001 - reported, never raised: one failure stops nothing
        result.status = FAILED
        message = str(err).splitlines()[0] if str(err) else ""
        prefix = f"{job.input_file}: "
        if message.startswith(prefix):
            message = message[len(prefix):]
        result.error = (message if isinstance(err, ExtractionError)
                        else f"{type(err).__name__}: {message}")
        result.traceback = traceback.format_exc()
        logger.error("%s: %s", job.input_file, result.error)
    result.seconds = time.perf_counter() - t0
    return result


# ------------------------------------------------------------------------------------------
# reporting
# ------------------------------------------------------------------------------------------
def _short(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def summary_table(results: Sequence[JobResult], *, root: str | os.PathLike | None = None
                  ) -> str:
    """A plain-text table: session, status, frames, seconds, frames/s, where, error."""
    rows = []
    for r in results:
        path = r.input_file
        if root is not None:
            with contextlib.suppress(ValueError):
                path = os.path.relpath(path, root)
        fps = f"{r.n_frames / r.seconds:.0f}" if r.status == DONE and r.seconds > 0 else ""
        where = f"{r.host}/{r.worker}" if r.host else ""
        rows.append((_short(path, 48), r.status, str(r.n_frames) if r.n_frames else "",
                     f"{r.seconds:.1f}" if r.seconds else "", fps, where, r.error or ""))
    header = ("session", "status", "frames", "seconds", "frames/s", "where", "error / note")
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) if rows else len(header[i])
              for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    counts = {s: sum(r.status == s for r in results) for s in (DONE, SKIPPED, FAILED)}
    frames = sum(r.n_frames for r in results)
    lines.append(f"{counts[DONE]} done, {counts[SKIPPED]} skipped, {counts[FAILED]} failed; "
                 f"{frames} frames extracted")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# SLURM command lines (the original's --cluster-type slurm script)
# ------------------------------------------------------------------------------------------
def sbatch_command(input_file: str, config_file: str, output_dir: str, *, ncpus: int = 1,
                   memory: str = "5GB", partition: str = "short", wall_time: str = "3:00:00",
                   prefix: str = "", extra: Sequence[str] = ()) -> str:
    """One submission line:
    ``sbatch -c N --mem=M -p P -t T --wrap "<prefix>moseq2-extract extract ..."``."""
    cmd = (f"{prefix}moseq2-extract extract --config-file {shlex.quote(str(config_file))} "
           f"--output-dir {shlex.quote(str(output_dir))} {shlex.quote(str(input_file))}; ")
    opts = [f"-c {max(1, int(ncpus))}", f"--mem={memory}", f"-p {partition}", f"-t {wall_time}"]
    opts += [str(e) for e in extra]
    return f"sbatch {' '.join(opts)} --wrap {shlex.quote(cmd)}"


def write_sbatch_script(jobs: Sequence[ExtractJob], script_path: str | os.PathLike,
                        config: Mapping[str, Any]) -> tuple[Path, list[str]]:
    """Write each job's config to ``<output_dir>/config.yaml`` and one ``sbatch`` line per
    job to ``script_path``.

    Parameters
    ----------
    jobs : sequence of ExtractJob
    script_path : path-like
        The script (``<input folder>/extract_out.sh`` by default).
    config : mapping
        Supplies ``ncpus``, ``memory``, ``partition``, ``wall_time``, ``prefix`` and
        ``job_extra_directives``.

    Returns
    -------
    (Path, list of str)
        The script and its command lines.
    """
    lines = []
    for job in jobs:
        out = Path(job.output_dir or "proc").resolve()
        out.mkdir(parents=True, exist_ok=True)
        cfg_path = out / "config.yaml"
        keep = {k: v for k, v in job.config.items()
                if k in PARAM_BY_KEY and k not in ("output_dir", "output_file", "config_file")}
        keep["workers"] = max(1, int(config.get("ncpus") or 1))
        write_yaml_atomic(cfg_path, keep)
        lines.append(sbatch_command(
            str(Path(job.input_file).resolve()), str(cfg_path), str(out),
            ncpus=int(config.get("ncpus") or 1), memory=str(config.get("memory", "5GB")),
            partition=str(config.get("partition", "short")),
            wall_time=str(config.get("wall_time", "3:00:00")),
            prefix=str(config.get("prefix") or ""),
            extra=[f"--{d.lstrip('-')}" if not d.startswith("-") else d
                   for d in config.get("job_extra_directives") or []]))
    script = Path(script_path)
    write_text_atomic(script, "".join(f"{line}\n" for line in lines))
    return script, lines
