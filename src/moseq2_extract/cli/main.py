"""The ``moseq2-extract`` command line: parses, calls the library, renders progress."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .. import IMPLEMENTATION, __version__
from .. import config as cfg
from ..errors import ExtractionError
from ..paths import write_text_atomic
from .failures import SafeGroup
from .help import StagedOption
from .malloc import limit_malloc_arenas
from .options import fail, merged_config, schema_options
from .outputs import after_extraction, output_options
from .progress import TqdmProgress, show_bars

EXTRACT_GROUPS = (cfg.ROI, cfg.VIDEO, cfg.EXTRACT, cfg.ENGINE)
# accepted by extract as in the original, used only by batch-extract
EXTRACT_UNUSED = ("cluster_type",)
# this implementation's per-frame options: find-roi computes no frames
FIND_ROI_SKIP = ("workers", "fill_dropouts", "ignore_intrusions", "remove_thin_structures")



@click.group(cls=SafeGroup)
@click.version_option(__version__, prog_name="moseq2-extract",
                      message=f"%(prog)s, version %(version)s (implementation {IMPLEMENTATION})")
@click.option("-v", "--verbose", count=True,
              help="Show informational messages (-vv: debug messages too); also accepted "
                   "after the command name")
def cli(verbose: int) -> None:
    """Extract mouse depth videos for MoSeq (fast, drop-in moseq2-extract)."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    limit_malloc_arenas()  # before any thread: memory flat in the recording's length


@cli.command("generate-config",
             help="Write a config.yaml with every extraction parameter, each under a comment "
                  "with its help and valid values (as in extract --help).")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default="config.yaml",
              show_default=True, help="File to write")
@click.option("--camera-type", default="k2", show_default=True,
              help="'azure' writes the Azure Kinect defaults; anything else the Kinect ones")
@click.option("--force", is_flag=True,
              help="Overwrite OUTPUT_FILE if it exists (without it an existing file is kept)")
def generate_config(output_file: str, camera_type: str, force: bool) -> None:
    path = Path(output_file)
    if path.exists() and not force:
        fail(f"{path}: already exists; not overwritten (use --force to replace it, or -o to "
             "write another file)")
    write_text_atomic(path, cfg.config_file_text(camera_type))
    click.echo(f"Wrote {path.resolve()} ({len(cfg.generate_config_dict(camera_type))} "
               "parameters, each with its help as a comment)")


@cli.command("find-roi", help="Find the arena background and ROI of one recording.")
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False))
@schema_options([cfg.ROI, cfg.ENGINE], skip=FIND_ROI_SKIP)
@click.option("-m", "--mapping", default="DEPTH", show_default=True, cls=StagedOption,
              stage=cfg.INPUT_STAGE, help="Video stream to read: a stream title or an index")
@click.pass_context
def find_roi(ctx: click.Context, input_file: str, **values) -> None:
    from ..camera import detect_camera
    from ..io.session import load_session
    from ..paths import resolve_output_dir
    from ..pipeline.plan import session_workers
    from ..roi.session import find_session_roi

    config = merged_config(ctx, values)
    try:
        session = load_session(input_file, mapping=values["mapping"])
        for warning in session.warnings:
            click.echo(f"Warning: {warning}", err=True)
        camera = detect_camera(input_file, config.camera_type,
                               (session.info.width, session.info.height))
        out_dir = resolve_output_dir(input_file, values["output_dir"])
        with session.open_reader() as reader:
            arena = find_session_roi(reader, config, out_dir, camera=camera,
                                     nframes=session.nframes,
                                     threads=session_workers(config))
    except ExtractionError as err:
        fail(err)
    click.echo(f"Floor at {arena.true_depth:.1f} mm, ROI of {int(arena.roi.sum())} px "
               f"(depth range {arena.depth_range[0]:g}-{arena.depth_range[1]:g} mm)")
    for path in arena.files:
        click.echo(f"  wrote {path}")


@cli.command("extract", help="Extract one recording into proc/results_XX.{h5,yaml,mp4}.")
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False))
@schema_options(EXTRACT_GROUPS, unused=EXTRACT_UNUSED)
@output_options
@click.pass_context
def extract(ctx: click.Context, input_file: str, **values) -> None:
    config = merged_config(ctx, values)
    outcome = run_extract(input_file, config, values.get("output_dir"))
    if outcome.skipped:
        click.echo(f"Skipping {input_file}: already extracted in {outcome.output_dir}")
        return
    for warning in outcome.warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(f"Extracted {outcome.n_frames} frames in {outcome.seconds:.1f} s "
               f"({outcome.fps:.0f} frames/s) -> {outcome.h5_path}")
    if outcome.compressed is not None:
        click.echo(f"Compressed {input_file} -> {outcome.compressed} (verified lossless; "
                   "raw file kept)")
    after_extraction([outcome.h5_path], seconds={str(outcome.h5_path): outcome.seconds},
                     report=values["report"], nwb=values["nwb"])


def run_extract(input_file: str, config: cfg.Config, output_dir: str | None):
    """Run one extraction with a progress bar; bad input exits with a one-line error."""
    from ..pipeline.session import extract_session

    bar = TqdmProgress(Path(input_file).name, enabled=show_bars(config.progress_bar))
    try:
        outcome = extract_session(input_file, config, output_dir=output_dir, progress=bar)
    except ExtractionError as err:
        bar.close()
        fail(err)
    bar.close()
    return outcome


@cli.command("demo", help="Write a synthetic example session and extract it.")
@click.argument("directory", type=click.Path(file_okay=False), default="moseq2_demo")
@click.option("--frames", type=int, default=900, show_default=True,
              help="Number of frames of the example session")
@click.option("--format", "fmt", type=click.Choice(["dat", "avi", "tar.gz", "mkv"]),
              default="dat", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--case", type=click.Choice(["clean", "tether", "patch_cord", "hand", "dropouts",
                                          "object"]),
              default="clean", show_default=True,
              help="A hard case drawn over the example session (same mouse)")
def demo(directory: str, frames: int, fmt: str, seed: int, case: str) -> None:
    from ..synthetic.demo import run_demo

    try:
        report = run_demo(Path(directory), n_frames=frames, fmt=fmt, seed=seed, case=case,
                          progress=TqdmProgress("demo"))
    except ExtractionError as err:
        fail(err)
    click.echo(report)


def _register_commands() -> None:
    """Flip-classifier and batch-layer commands live in their own modules."""
    from .batch import register as register_batch
    from .flip import register as register_flip
    from .outputs import register as register_outputs

    register_flip(cli)
    register_batch(cli)
    register_outputs(cli)


_register_commands()


if __name__ == "__main__":  # pragma: no cover
    cli()
