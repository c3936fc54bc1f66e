"""Options grouped by stage in ``--help``, the boolean forms, and ``-v/--verbose``.

:class:`StagedCommand` is the command class of every ``moseq2-extract`` command.  Its
``--help`` lists the options under the stage of the work they belong to (input, ROI and
background, extraction, tracking, heading, output, performance, batch and cluster:
:data:`moseq2_extract.config.STAGES`), in that order, and ends with one line naming the
options of the original that are accepted but have no effect on this command (hidden from
the list).  Commands without staged options get click's plain list.

Boolean options (``--opt BOOLEAN`` in the original) keep that form and also accept the
bare flag (``--opt`` = true) and ``--no-opt`` (= false).  Every command takes
``-v/--verbose`` (``-v`` shows informational messages, ``-vv`` debug ones), added by
:func:`add_verbose_option`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import click

from .. import config as cfg

#: Options that are no stage of the work (``--help``, ``-v``, ``-p``) are listed last.
GENERAL = cfg.GENERAL_STAGE
_ORDER = tuple(cfg.STAGES)
_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "1", "0", "on", "off", "t", "f",
                         "y", "n"})


class StagedOption(click.Option):
    """A click option that knows the stage ``--help`` lists it under.

    Parameters
    ----------
    stage : str, optional
        A title of :data:`moseq2_extract.config.STAGES` (None: listed under "General").
    boolean : bool
        A ``--opt BOOLEAN`` option that also takes ``--opt`` and ``--no-opt``.
    no_effect : bool
        Accepted for compatibility but without effect on this command: hidden from the
        list and named in the line at the end of ``--help``.
    """

    def __init__(self, *args: Any, stage: str | None = None, boolean: bool = False,
                 no_effect: bool = False, **kwargs: Any) -> None:
        if no_effect:
            kwargs["hidden"] = True
        super().__init__(*args, **kwargs)
        self.stage = stage
        self.boolean = boolean
        self.no_effect = no_effect

    @property
    def long_flag(self) -> str:
        return next((o for o in self.opts if o.startswith("--")), self.opts[0])

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None or not self.boolean:
            return record
        flags, text = record
        no = "--no-" + self.long_flag[2:]
        return flags.replace(" BOOLEAN", " [BOOLEAN]") + f" / {no}", text


def _rewrite_booleans(options: Sequence[click.Parameter], args: list[str]) -> list[str]:
    """``--opt`` alone -> ``--opt true``; ``--no-opt`` -> ``--opt false`` (for the
    boolean options); ``--opt VALUE`` and ``--opt=VALUE`` are left as they are."""
    flags = {o.long_flag for o in options if isinstance(o, StagedOption) and o.boolean}
    if not flags:
        return args
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if arg in flags:
            out.append(arg)
            if i + 1 >= len(args) or args[i + 1].strip().lower() not in _BOOL_WORDS:
                out.append("true")
        elif arg.startswith("--no-") and "--" + arg[5:] in flags:
            out.extend(["--" + arg[5:], "false"])
        else:
            out.append(arg)
        i += 1
    return out


class StagedCommand(click.Command):
    """A command whose ``--help`` groups its options by stage (see the module doc)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _rewrite_booleans(self.get_params(ctx), list(args)))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        params = self.get_params(ctx)
        if not any(isinstance(p, StagedOption) and p.stage for p in params):
            super().format_options(ctx, formatter)
            return
        groups: dict[str, list[tuple[str, str]]] = {title: [] for title in _ORDER}
        for param in params:
            record = param.get_help_record(ctx)
            if record is None:
                continue
            stage = getattr(param, "stage", None) or GENERAL
            groups.setdefault(stage, []).append(record)
        for title, records in groups.items():
            if records:
                with formatter.section(f"{title} options"):
                    formatter.write_dl(records)
        inert = [p.long_flag for p in params if isinstance(p, StagedOption) and p.no_effect]
        if inert:
            formatter.write_paragraph()
            formatter.write_text("Accepted for compatibility with moseq2-extract 1.4.0, no "
                                 "effect here: " + ", ".join(inert)
                                 + " (docs/compatibility.md).")


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        logging.getLogger().setLevel(logging.DEBUG if value > 1 else logging.INFO)


def verbose_option() -> StagedOption:
    """``-v/--verbose``: informational log messages (``-vv``: debug messages too)."""
    return StagedOption(["-v", "--verbose"], count=True, expose_value=False,
                        callback=_set_verbosity,
                        help="Show informational messages (-vv: debug messages too)")


def add_verbose_option(command: click.Command) -> None:
    """Give ``command`` ``-v/--verbose`` unless it has a ``-v`` of its own."""
    taken = {opt for p in command.params for opt in getattr(p, "opts", ())}
    if "-v" not in taken and "--verbose" not in taken:
        command.params.append(verbose_option())
