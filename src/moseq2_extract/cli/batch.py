"""Commands of the batch layer: ``batch-extract``, ``aggregate-results``,
``generate-index``, ``agg-to-index``, ``copy-h5-metadata-to-yaml``,
``convert-raw-to-avi`` and ``copy-slice``.

:func:`register` adds them to the ``moseq2-extract`` click group.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click

from .. import config as cfg
from ..errors import ExtractionError
from .help import StagedCommand, StagedOption
from .options import fail, merged_config, schema_options
from .outputs import after_extraction, output_options
from .progress import TqdmProgress, new_bar, show_bars

BATCH_GROUPS = (cfg.ROI, cfg.VIDEO, cfg.EXTRACT, cfg.ENGINE, cfg.BATCH)
# batch-extract binds -c to --ncpus (spec 1.0), so --crop-size has no short flag there
BATCH_SHORTS = {"crop_size": None, "ncpus": "-c"}


def _quiet_dask() -> None:
    """Dask logs every worker start and stop at INFO level: keep them out of the terminal
    unless ``-v`` was given (its loggers are configured when it is imported, so import it
    first)."""
    if logging.getLogger().getEffectiveLevel() <= logging.INFO:
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        return
    for name in ("distributed", "dask_jobqueue", "tornado"):
        logging.getLogger(name).setLevel(logging.WARNING)


# ------------------------------------------------------------------------------------------
# batch-extract
# ------------------------------------------------------------------------------------------
@click.command("batch-extract", cls=StagedCommand,
               help="Extract every session under INPUT_FOLDER, in parallel: by default "
                    "as many sessions at a time, each with as many workers, as suit the "
                    "machine and the sessions (the plan is printed; --local-workers 1: one "
                    "session after the other in this process; --local-workers N: a local "
                    "Dask cluster of N), SLURM jobs with --cluster-type slurm, or the "
                    "workers of --scheduler-address.  As in moseq2-extract 1.4.0, -c "
                    "is --ncpus here (--crop-size has no short flag on this command).")
@click.argument("input_folder", type=click.Path(exists=True, file_okay=False))
@schema_options(BATCH_GROUPS, shorts=BATCH_SHORTS)
@output_options
@click.pass_context
def batch_extract(ctx: click.Context, input_folder: str, **values) -> None:
    from ..batch.discovery import find_sessions, kind_counts
    from ..batch.jobs import FAILED, plan_jobs, summary_table, write_sbatch_script
    from ..batch.plan import estimate_frames, plan_batch
    from ..batch.runners import make_runner

    config = merged_config(ctx, values)
    try:
        found = find_sessions(input_folder, config.extensions, output_dir=config.output_dir,
                              bg_roi_index=config.bg_roi_index)
        sessions = [s for s in found if s.conflict is None]
        jobs, skipped = plan_jobs(sessions, config)
    except ExtractionError as err:
        fail(err, code=2)
    kinds = ", ".join(f"{n} {kind}" for kind, n in kind_counts(found).items())
    click.echo(f"Found {len(sessions)} session(s) under {input_folder}"
               + (f" ({kinds})" if kinds else "") + f": {len(jobs)} to extract, "
               f"{len(skipped)} skipped")
    for s in found:
        if s.conflict is not None:
            click.echo(f"  {s.depth_file.parent}: {s.conflict.name} and {s.depth_file.name} "
                       f"are one session; using {s.conflict.name}")
    if not found:
        click.echo(f"  (looked for {', '.join(config.extensions)} files; see --extensions)")
    if not jobs:
        if skipped:
            click.echo(summary_table(skipped, root=input_folder))
        return

    if config.cluster_type == "slurm" and config.slurm_submit == "script":
        script = Path(input_folder) / config.extract_out_script
        script, lines = write_sbatch_script(jobs, script, config)
        if config.get_cmd:
            click.echo(f"Wrote {len(lines)} command(s) to {script}:")
            for line in lines:
                click.echo(line)
        if config.run_cmd:
            failed = 0
            for line in lines:
                proc = subprocess.run(line, shell=True, check=False)  # noqa: S602 - user's own
                failed += proc.returncode != 0
            if failed:
                fail(RuntimeError(f"{failed} of {len(lines)} submission(s) failed"))
        return
    if config.cluster_type == "slurm" and not config.scheduler_address \
            and shutil.which("sbatch") is None:
        fail(click.UsageError("--cluster-type slurm: sbatch is not on PATH (use "
                               "--slurm-submit script to only write the commands)"), code=2)

    _quiet_dask()
    plan = None
    if config.cluster_type != "slurm" and not config.scheduler_address:
        plan = plan_batch(len(jobs), frames=[estimate_frames(j.input_file) for j in jobs],
                          requested_sessions=config.local_workers,
                          requested_workers=config.workers)
        click.echo(plan.describe())
    try:
        runner = make_runner(config, len(jobs), plan=plan)
    except ExtractionError as err:
        fail(err, code=2)
    click.echo(f"Running on {runner.describe()}")
    total = len(jobs)
    done = [0]
    bar = _sessions_bar(total) if show_bars(config.progress_bar) else None

    def report(result) -> None:
        done[0] += 1
        what = (f"{result.n_frames} frames in {result.seconds:.1f} s"
                if result.status == "done" else (result.error or ""))
        where = f" [{result.host}/{result.worker}]" if result.host else ""
        line = f"[{done[0]}/{total}] {result.status:<7} {result.input_file}: {what}{where}"
        if bar is not None:
            bar.write(line, file=sys.stderr if result.status == FAILED else sys.stdout)
            bar.update(1)
        else:
            click.echo(line, err=result.status == FAILED)

    try:
        results = runner.run(jobs, on_result=report)
    except ExtractionError as err:
        fail(err)
    finally:
        if bar is not None:
            bar.close()
    ordered = sorted(skipped + results, key=lambda r: r.input_file)
    click.echo("")
    click.echo(summary_table(ordered, root=input_folder))
    _after_batch(results, config, input_folder, values)
    failures = [r for r in results if r.status == FAILED]
    for r in failures:
        click.echo(f"FAILED {r.input_file}: {r.error}", err=True)
    if failures:
        sys.exit(1)


def _sessions_bar(total: int):
    """The bar of ``batch-extract``: sessions finished out of ``total``."""
    return new_bar(total=total, desc="sessions", unit="session", dynamic_ncols=True,
                   file=sys.stderr)


def _after_batch(results, config: cfg.Config, input_folder: str, values: dict) -> None:
    """The report pages (and NWB files) of the sessions just extracted, and the index."""
    from ..batch.jobs import DONE
    from ..paths import results_stem

    done = {str(Path(r.output_dir) / f"{results_stem(config.bg_roi_index)}.h5"): r.seconds
            for r in results if r.status == DONE and r.output_dir}
    after_extraction([Path(p) for p in done], seconds=done, report=values["report"],
                     nwb=values["nwb"], index_folder=Path(input_folder))


# ------------------------------------------------------------------------------------------
# aggregation and indexes
# ------------------------------------------------------------------------------------------
@click.command("aggregate-results",
               help="Copy finished extractions into one folder with descriptive names and "
                    "write moseq2-index.yaml.")
@click.option("-i", "--input-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder searched recursively for results (default: current directory)")
@click.option("-f", "--format", "format_", default="{start_time}_{session_name}_{subject_name}",
              show_default=True, help="File-name format over snake_cased metadata keys")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default=None,
              help="Destination (default: ./aggregate_results)")
@click.option("--mouse-threshold", type=float, default=0.0, show_default=True,
              help="Keep sessions whose mean crop height (first 1000 frames) exceeds this (mm)")
def aggregate_results(input_dir: str | None, format_: str, output_dir: str | None,
                      mouse_threshold: float) -> None:
    from ..batch.aggregate import aggregate_results as run

    input_dir = input_dir or os.getcwd()
    output_dir = output_dir or os.path.join(os.getcwd(), "aggregate_results")
    try:
        index = run(input_dir, format=format_, output_dir=output_dir,
                    mouse_threshold=mouse_threshold)
    except ExtractionError as err:
        fail(err)
    n = len(list(Path(output_dir).glob("*.h5")))
    click.echo(f"Aggregated {n} session(s) into {output_dir}")
    click.echo(f"Index file: {index} (beside the aggregate folder)")


@click.command("generate-index", help="Write moseq2-index.yaml listing the extracted sessions.")
@click.option("-i", "--input-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder searched recursively (default: current directory)")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default=None,
              help="Index file (default: ./moseq2-index.yaml)")
def generate_index(input_dir: str | None, output_file: str | None) -> None:
    from ..batch.index import generate_index as run

    input_dir = input_dir or os.getcwd()
    output_file = output_file or os.path.join(os.getcwd(), "moseq2-index.yaml")
    try:
        path = run(input_dir, output_file)
    except ExtractionError as err:
        fail(err)
    click.echo(f"Index file: {path} was successfully generated.")


@click.command("agg-to-index",
               help="Write moseq2-index.yaml (next to the folder) from an aggregate folder.")
@click.option("-i", "--input-dir", type=click.Path(file_okay=False), default=None,
              help="Aggregate folder (default: ./aggregate_results)")
def agg_to_index(input_dir: str | None) -> None:
    from ..batch.index import index_from_aggregate

    input_dir = input_dir or os.path.join(os.getcwd(), "aggregate_results")
    try:
        path = index_from_aggregate(input_dir)
    except ExtractionError as err:
        fail(err)
    click.echo(f"Index file: {path} was successfully generated (beside the aggregate "
               "folder).")


@click.command("copy-h5-metadata-to-yaml",
               help="Copy an h5 metadata group into the status yaml of every finished session.")
@click.option("-i", "--input-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder searched recursively (default: current directory)")
@click.option("--h5-metadata-path", default="/metadata/acquisition", show_default=True,
              help="Group of the results file to copy")
def copy_h5_metadata_to_yaml(input_dir: str | None, h5_metadata_path: str) -> None:
    from ..batch.index import copy_h5_metadata_to_yaml as run

    updated = run(input_dir or os.getcwd(), h5_metadata_path)
    click.echo(f"Updated {len(updated)} status file(s).")


# ------------------------------------------------------------------------------------------
# conversion
# ------------------------------------------------------------------------------------------
def _video_options(func):
    """The options convert-raw-to-avi and copy-slice share (spec 1.8), grouped by stage."""
    staged = {"cls": StagedOption}
    func = click.option("-m", "--mapping", default="DEPTH", show_default=True,
                        stage=cfg.INPUT_STAGE, **staged,
                        help="Video stream to read: a stream title or an index")(func)
    func = click.option("-t", "--threads", type=int, default=8, show_default=True,
                        stage=cfg.PERFORMANCE_STAGE, **staged,
                        help="FFV1 encoder / decoder threads (slice threads)")(func)
    func = click.option("--delete", is_flag=True, stage=cfg.OUTPUT_STAGE, **staged,
                        help="Delete the input after the copy was verified bit-exact")(func)
    func = click.option("--fps", type=float, default=30.0, show_default=True,
                        stage=cfg.OUTPUT_STAGE, **staged,
                        help="Frame rate written to the output")(func)
    func = click.option("-b", "--chunk-size", type=int, default=3000, show_default=True,
                        stage=cfg.PERFORMANCE_STAGE, **staged,
                        help="Frames per read / write / verification batch (a batch holds "
                             "at most 32 MiB of frames)")(func)
    func = click.option("-p", "--progress-bar", is_flag=True, stage=cfg.GENERAL_STAGE,
                        **staged, help=cfg.PARAM_BY_KEY["progress_bar"].full_help)(func)
    return func


class _CopyProgress:
    """The bars of a copy: frames encoded, then frames verified."""

    def __init__(self, name: str, enabled: bool):
        self.name = name
        self.enabled = enabled
        self.stage: str | None = None
        self.bar: TqdmProgress | None = None
        self.frames = 0  # frames copied

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.frames = total
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = TqdmProgress(f"{self.name}: {stage}", enabled=self.enabled)
        assert self.bar is not None
        self.bar(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _mapping(value: str) -> str | int:
    return int(value) if value.strip().lstrip("-").isdigit() else value


@click.command("convert-raw-to-avi", cls=StagedCommand,
               help="Losslessly compress a depth recording to FFV1 .avi, verified bit-exact.")
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default=None,
              cls=StagedOption, stage=cfg.OUTPUT_STAGE,
              help="Output (default: <input dir>/<input stem>.avi)")
@_video_options
def convert_raw_to_avi(input_file: str, output_file: str | None, chunk_size: int, fps: float,
                       delete: bool, threads: int, mapping: str, progress_bar: bool) -> None:
    from ..io.convert import convert_to_avi

    bars = _CopyProgress(Path(input_file).name, show_bars(progress_bar))
    t0 = time.perf_counter()
    try:
        out = convert_to_avi(input_file, output_file, chunk_size=chunk_size, fps=fps,
                             delete=delete, threads=threads, mapping=_mapping(mapping),
                             progress=bars)
    except ExtractionError as err:
        bars.close()
        fail(err)
    bars.close()
    seconds = time.perf_counter() - t0
    click.echo(f"Wrote {out} (verified identical to the input; {bars.frames} frames in "
               f"{seconds:.1f} s, {bars.frames / max(seconds, 1e-9):.0f} frames/s encoded "
               "and verified)" + _timestamps_note(out, input_file)
               + ("; input deleted" if delete else ""))


def _timestamps_note(out: Path, input_file: str) -> str:
    """``, its timestamps to <file>`` when the copy got a timestamp file of its own."""
    from ..io.convert import shares_source_timestamps, slice_timestamps_path

    ts = slice_timestamps_path(out)
    if ts.exists() and not shares_source_timestamps(out, input_file):
        return f", its timestamps to {ts}"
    return ""


@click.command("copy-slice", cls=StagedCommand,
               help="Copy a range of frames of a depth recording losslessly, with the "
                    "range's own timestamps (<output stem>_ts.txt).")
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default=None,
              cls=StagedOption, stage=cfg.OUTPUT_STAGE,
              help="Output: .avi = FFV1, any other extension = raw uint16 (default: "
                   "<input dir>/<input stem>.avi for the whole recording, "
                   "<input stem>_<start>-<end>.avi for part of it)")
@click.option("-c", "--copy-slice", "copy_slice", type=int, nargs=2, default=(0, 1000),
              show_default=True, cls=StagedOption, stage=cfg.INPUT_STAGE,
              help="Frame range [start, end) (end clipped to the length)")
@_video_options
def copy_slice(input_file: str, output_file: str | None, copy_slice: tuple[int, int],
               chunk_size: int, fps: float, delete: bool, threads: int, mapping: str,
               progress_bar: bool) -> None:
    from ..io.convert import copy_frames, slice_output_path

    frames = (copy_slice[0], copy_slice[1])
    try:
        out = (Path(output_file) if output_file
               else slice_output_path(input_file, frames, mapping=_mapping(mapping)))
    except ExtractionError as err:
        fail(err)
    if out.exists():
        answer = click.prompt(f"Press ENTER to overwrite {out}, anything else to stop",
                              default="", show_default=False, err=True)
        if answer.strip():
            return
    bars = _CopyProgress(Path(input_file).name, show_bars(progress_bar))
    try:
        path = copy_frames(input_file, out, frames=frames, chunk_size=chunk_size, fps=fps,
                           threads=threads, mapping=_mapping(mapping), delete=delete,
                           progress=bars)
    except ExtractionError as err:
        bars.close()
        fail(err)
    bars.close()
    click.echo(f"Wrote frames {copy_slice[0]}-{copy_slice[1]} to {path} (verified)"
               + _timestamps_note(path, input_file) + ("; input deleted" if delete else ""))


COMMANDS = (batch_extract, aggregate_results, generate_index, agg_to_index,
            copy_h5_metadata_to_yaml, convert_raw_to_avi, copy_slice)


def register(group: click.Group) -> None:
    """Add the batch-layer commands to ``group`` (commands it already has are kept)."""
    for command in COMMANDS:
        if command.name not in group.commands:
            group.add_command(command)
