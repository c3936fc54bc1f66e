"""--help grouped by stage, the boolean forms and -v (cli/help.py)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from moseq2_extract import config as cfg
from moseq2_extract.cli.help import StagedCommand, StagedOption, _rewrite_booleans


def _command() -> click.Command:
    @click.command(cls=StagedCommand)
    @click.argument("path")
    @click.option("--fill", type=bool, default=True, cls=StagedOption, boolean=True,
                  stage=cfg.EXTRACTION_STAGE, help="Fill holes")
    @click.option("--old", type=int, default=0, cls=StagedOption, no_effect=True,
                  stage=cfg.EXTRACTION_STAGE, help="Accepted, unused")
    @click.option("--fps", type=float, default=30.0, cls=StagedOption,
                  stage=cfg.INPUT_STAGE, help="Frame rate")
    def command(path, fill, old, fps):
        click.echo(f"{path} fill={fill} old={old} fps={fps}")

    return command


@pytest.mark.parametrize(("args", "expected"), [
    (["--fill", "x"], ["--fill", "true", "x"]),
    (["--fill", "False", "x"], ["--fill", "False", "x"]),
    (["--no-fill", "x"], ["--fill", "false", "x"]),
    (["--fill=off", "x"], ["--fill=off", "x"]),
    (["x", "--", "--fill"], ["x", "--", "--fill"]),  # after --, not an option
])
def test_rewrite_booleans(args, expected):
    assert _rewrite_booleans(_command().params, args) == expected


def test_help_lists_stages_in_order_and_names_inert_options():
    text = CliRunner().invoke(_command(), ["--help"]).output
    assert text.index("Input options:") < text.index("Extraction options:") \
        < text.index("General options:")
    assert "--fill [BOOLEAN] / --no-fill" in text
    assert "--old" not in text.split("no effect here:")[0]
    assert "no effect here: --old" in " ".join(text.split())


def test_boolean_forms_reach_the_command():
    runner = CliRunner()
    assert runner.invoke(_command(), ["--no-fill", "p"]).output.strip() == \
        "p fill=False old=0 fps=30.0"
    assert runner.invoke(_command(), ["p", "--fill", "--old", "3"]).output.strip() == \
        "p fill=True old=3 fps=30.0"


def test_every_parameter_has_a_stage_and_help_text():
    assert {p.stage for p in cfg.PARAMS} == set(cfg.STAGES)
    assert cfg.PARAM_BY_KEY["bg_roi_gradient_kernel"].help_text.endswith(
        "[valid: one of 1, 3, 5, 7]")
    assert cfg.PARAM_BY_KEY["mapping"].help_text == cfg.PARAM_BY_KEY["mapping"].full_help
