"""Flip-classifier commands: ``train-flip-classifier`` and ``download-flip-file``.

Registered on the main ``moseq2-extract`` group by :func:`register`.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import ExtractionError
from .options import fail

_CWD = os.getcwd()  # the original's --output-dir default: the directory at start-up


@click.command("download-flip-file",
               help="Download a published flip classifier and set it in CONFIG_FILE. "
               "Optional: without a classifier the heading is resolved without training.")
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False),
                default="config.yaml")
@click.option("--output-dir", type=click.Path(file_okay=False), default=_CWD,
              show_default=True, help="Download folder")
def download_flip_file(config_file: str, output_dir: str) -> None:
    from ..heading.download import FlipDownloadError, download_flip_file, flip_menu

    def choose(menu: str) -> str:
        click.echo(menu)
        return click.prompt("Enter a selection", type=str)

    try:
        path = download_flip_file(config_file, output_dir, choose=choose)
    except FlipDownloadError as err:
        fail(str(err), err.alternatives)
    except ExtractionError as err:
        fail(str(err), "Choices:", flip_menu())
    click.echo(f"Successfully downloaded flip file to {path}")
    click.echo(f"Updated {config_file}: flip_classifier = {path}")


@click.command("train-flip-classifier",
               help="Train a flip classifier from your own extracted sessions (h5 files or "
               "folders holding them), self-supervised from the frames whose training-free "
               "heading is confident, and write it in the .npz forest format.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output-file", type=click.Path(dir_okay=False),
              default="flip_classifier.npz", show_default=True, help="Classifier to write")
@click.option("--labels", "labels_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="CSV of hand-labelled frames: h5_file,frame_index,head "
              "(head = east/west, where the head is in the stored crop)")
@click.option("--min-confidence", type=click.FloatRange(0.5, 1.0), default=0.99,
              show_default=True, help="Heading confidence a frame needs to be an example")
@click.option("--max-frames", type=click.IntRange(10), default=1500, show_default=True,
              help="Frames used per session at most")
@click.option("--holdout", type=click.FloatRange(0.0, 0.9), default=0.2, show_default=True,
              help="Fraction of each session (its last frames) held out to test accuracy")
@click.option("--n-trees", type=click.IntRange(1), default=32, show_default=True)
@click.option("--max-depth", type=click.IntRange(1, 64), default=12, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--config-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Also set flip_classifier in this config.yaml to the new classifier")
def train_flip_classifier(inputs: tuple[str, ...], output_file: str, labels_file: str | None,
                          min_confidence: float, max_frames: int, holdout: float,
                          n_trees: int, max_depth: int, seed: int,
                          config_file: str | None) -> None:
    from ..heading.download import set_config_flip_classifier
    from ..heading.training import ForestParams, train_flip_classifier

    params = ForestParams(n_trees=n_trees, max_depth=max_depth)
    try:
        report = train_flip_classifier(
            inputs, output_file, labels_file=labels_file, min_confidence=min_confidence,
            max_frames=max_frames, holdout=holdout, params=params, seed=seed,
            progress=lambda msg: click.echo(msg, err=True))
    except ExtractionError as err:
        fail(str(err))
    click.echo(f"Trained on {report.n_train} frames from {report.n_sessions} session(s)"
               + (f" ({report.n_hand} hand-labelled)" if report.n_hand else ""))
    if report.n_holdout:
        click.echo(f"Held-out accuracy: {100 * report.holdout_accuracy:.2f} % "
                   f"({report.n_holdout} frames, each seen facing east and west)")
    else:
        click.echo("Held-out accuracy: not measured (--holdout 0)")
    if report.hand_accuracy is not None:
        click.echo(f"Held-out hand-labelled accuracy: {100 * report.hand_accuracy:.2f} %")
    click.echo(f"Wrote {report.output_file} (crop size {report.crop_size})")
    if config_file and set_config_flip_classifier(config_file, report.output_file):
        click.echo(f"Updated {config_file}: flip_classifier = {Path(report.output_file)}")


def register(group: click.Group) -> None:
    """Add the flip-classifier commands to the ``moseq2-extract`` group."""
    group.add_command(download_flip_file)
    group.add_command(train_flip_classifier)
