"""Commands and options for what is made from finished extractions: ``report`` (the QC
report) and ``export-nwb``, the ``--report/--no-report`` and ``--nwb`` options of
``extract`` and ``batch-extract``, and :func:`after_extraction`, which they call."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from .. import config as cfg
from ..errors import ExtractionError
from .help import StagedOption
from .options import fail


def output_options(func: Callable) -> Callable:
    """Add ``--report/--no-report`` and ``--nwb`` to an extraction command."""
    func = click.option("--nwb", is_flag=True, default=False, cls=StagedOption,
                        stage=cfg.OUTPUT_STAGE,
                        help="Also export each extraction to NWB (proc/results_XX.nwb; "
                             "needs the 'nwb' extra)")(func)
    func = click.option("--report/--no-report", "report", default=True, show_default=True,
                        cls=StagedOption, stage=cfg.OUTPUT_STAGE,
                        help="Write the QC report (proc/report.html; batch-extract also "
                             "INPUT_FOLDER/report.html)")(func)
    return func


log = logging.getLogger(__name__)


def after_extraction(h5_paths: Sequence[Path], *, seconds: dict[str, float],
                     report: bool, nwb: bool, index_folder: Path | None = None) -> None:
    """Write the report pages and NWB files of finished extractions; a failure here is a
    warning (the extraction itself succeeded), never an error exit."""
    if nwb:
        for h5 in h5_paths:
            try:
                from ..nwb import export_nwb

                out = export_nwb(h5)
            except (ExtractionError, ImportError, OSError, ValueError) as err:
                click.echo(f"Warning: NWB export of {h5} failed: {err}", err=True)
            else:
                click.echo(f"NWB: {out}")
    if not report:
        return
    t0 = time.perf_counter()
    # what the extraction left in memory stays: the collector then walks only the
    # report's own objects (a tenth of a second less on a 1-minute session)
    gc.freeze()
    try:
        from ..report import write_report, write_session_report

        if index_folder is not None:
            outcome = write_report(index_folder, seconds=seconds, index=True, force=False)
            page = outcome.main
        else:
            for h5 in h5_paths:
                page, _ = write_session_report(h5, seconds=seconds.get(str(h5)))
    except (ExtractionError, ImportError, OSError, ValueError) as err:
        click.echo(f"Warning: the QC report was not written: {err}", err=True)
        return
    if h5_paths or index_folder is not None:
        click.echo(f"Report: {page} ({time.perf_counter() - t0:.2f} s)")


@click.command("report", help="Write the QC report (report.html) of one extraction (its "
                              "proc/ folder or results_XX.h5) or of every extraction under "
                              "a folder (one page each plus an index page).")
@click.argument("path", type=click.Path(exists=True))
def report_command(path: str) -> None:
    from ..report import write_report

    try:
        outcome = write_report(path)
    except ExtractionError as err:
        fail(err)
    for page in outcome.sessions:
        click.echo(f"  wrote {page}")
    n_out = sum(bool(r.outliers) for r in outcome.rows)
    click.echo(f"Report: {outcome.main} ({len(outcome.sessions)} session(s), {n_out} "
               f"outlier(s), {outcome.seconds:.1f} s)")


@click.command("export-nwb", help="Export an extraction (results_XX.h5, or the session / "
                                  "proc/ folder holding it) to an NWB 2 file.")
@click.argument("results_or_session", type=click.Path(exists=True))
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default=None,
              help="NWB file (default: results_XX.nwb next to the results file)")
def export_nwb_command(results_or_session: str, output_file: str | None) -> None:
    from ..report import find_results

    try:
        found = find_results(results_or_session)
        if not found:
            raise ExtractionError(f"{results_or_session}: no results_XX.h5 found")
        if len(found) > 1 and output_file:
            raise ExtractionError(f"{results_or_session}: {len(found)} results files; "
                                  "-o names one output, give one results file")
        from ..nwb import export_nwb
    except ImportError as err:
        fail(f"NWB export needs pynwb: pip install 'moseq2-extract[nwb]' ({err})")
    except ExtractionError as err:
        fail(err)
    for h5 in found:
        try:
            out = export_nwb(h5, output_file)
        except ExtractionError as err:
            fail(err)
        click.echo(f"Wrote {out}")


COMMANDS = (report_command, export_nwb_command)


def register(group: click.Group) -> None:
    """Add ``report`` and ``export-nwb`` to ``group``."""
    for command in COMMANDS:
        if command.name not in group.commands:
            group.add_command(command)
