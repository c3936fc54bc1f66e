"""Click options generated from the parameter schema, and the config-file merge.

Only the CLI layer imports this module.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import click

from .. import config as cfg
from ..config import PARAMS, Param, make_config, read_config_file
from ..errors import ConfigError
from .help import StagedOption

logger = logging.getLogger(__name__)

_CLICK_TYPES = {cfg.INT: int, cfg.FLOAT: float, cfg.STR: str, cfg.OPT_STR: str, cfg.OPT_INT: int}
# Keys used by the later MoSeq stages, which share config.yaml with moseq2-app.
DOWNSTREAM_KEYS = frozenset({
    "gaussfilter_space", "gaussfilter_time", "medfilter_space", "medfilter_time",
    "missing_data", "missing_data_iters", "mask_height_threshold", "recon_pcs", "rank",
    "h5_path", "h5_mask_path", "pca_file", "pca_file_components", "pca_file_scores",
    "pca_dirname", "scores_filename", "changepoints_filename", "local_processes",
    "overwrite_pca_train", "train_on_subset", "npcs", "kappa", "num_iter", "max_states",
    "robust", "separate_trans", "checkpoint_freq", "alpha", "gamma", "noise_level",
    "base_dir", "input_dir", "index_file", "model_path", "timestamp_path", "dask_port",
    "dask_cache_path", "nworkers", "workers_per_node", "queue", "chunk", "whiten",
    "visualize_results", "threshold", "dims", "fps_out", "h5", "pc_scores", "pca_path",
    "select_groups", "hold_out", "nfolds",
    "aggregate_results",
})


_EXTENSION = re.compile(r"^\.?(dat|avi|mkv|tar\.gz|tgz)(,\.?(dat|avi|mkv|tar\.gz|tgz))*$",
                        re.IGNORECASE)


class ExtensionsOption(StagedOption):
    """A repeatable option that also takes several values after one flag.

    ``--extensions .dat .avi``, ``--extensions .dat,.avi`` and ``--extensions .dat
    --extensions .avi`` all give ``('.dat', '.avi')``.  Only words that look like a
    depth-file extension are taken after the first value, so a positional argument that
    follows (the input folder) is never swallowed.
    """

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            target = parser._long_opt.get(name) or parser._short_opt.get(name)
            if target is None:  # pragma: no cover - click always registers the flags
                continue
            original = target.process

            def process(value: Any, state: Any, _original: Callable = original) -> None:
                values = [value]
                while state.rargs and _EXTENSION.match(state.rargs[0]):
                    values.append(state.rargs.pop(0))
                for item in values:
                    for part in str(item).split(","):
                        if part.strip():
                            _original(part.strip(), state)

            target.process = process


def _option(param: Param, short: str | None, no_effect: bool = False) -> Callable:
    decls = [param.flag] + ([short] if short else [])
    kw: dict[str, Any] = {"help": param.help_text, "show_default": True,
                          "cls": ExtensionsOption if param.key == "extensions" else StagedOption,
                          "stage": param.stage, "no_effect": no_effect}
    kind = param.kind
    if kind == cfg.FLAG:
        kw.update(is_flag=True, default=bool(param.default))
    elif kind == cfg.BOOL:
        kw.update(type=bool, default=param.default, boolean=True)
    elif kind in (cfg.INT_PAIR, cfg.FLOAT_PAIR, cfg.FLOAT_TRIPLE):
        kw.update(type=int if kind == cfg.INT_PAIR else float,
                  nargs=3 if kind == cfg.FLOAT_TRIPLE else 2, default=param.default)
    elif kind in (cfg.INT_LIST, cfg.STR_LIST):
        kw.update(type=int if kind == cfg.INT_LIST else str, multiple=True,
                  default=tuple(param.default))
    else:
        kw.update(type=_CLICK_TYPES[kind], default=param.default)
        if param.choices is not None and kind == cfg.STR and param.key not in (
                "bg_roi_shape", "tail_filter_shape", "cable_filter_shape"):
            kw["type"] = click.Choice([str(c) for c in param.choices], case_sensitive=False)
    return click.option(*decls, param.key, **kw)


def schema_options(groups: Iterable[str], *, shorts: dict[str, str | None] | None = None,
                   skip: Iterable[str] = (), unused: Iterable[str] = ()) -> Callable:
    """Decorator adding every parameter of ``groups`` as an option.

    Parameters
    ----------
    groups : iterable of str
        Schema groups (``config.ROI`` ...).
    shorts : dict, optional
        Per-command short-flag overrides (key -> flag or None).
    skip : iterable of str
        Keys not to add.
    unused : iterable of str
        Keys this command accepts but does not use: hidden from ``--help`` (named in its
        last line), like every parameter declared with ``no_effect``.
    """
    shorts = shorts or {}
    skip, unused = set(skip), set(unused)
    chosen = [p for p in PARAMS if p.group in set(groups) and p.key not in skip]

    def decorate(func: Callable) -> Callable:
        for p in reversed(chosen):
            inert = p.no_effect is not None or p.key in unused
            func = _option(p, shorts.get(p.key, p.short), inert)(func)
        return func

    return decorate


def merged_config(ctx: click.Context, values: dict[str, Any]) -> cfg.Config:
    """Defaults < config file < options given on the command line.

    Unlike the original, an option typed on the command line always wins, even when it
    equals its default.  Unknown config-file keys are an error with a did-you-mean hint
    (keys of the later MoSeq stages are ignored).

    Raises
    ------
    click.UsageError
        On an invalid value or an unknown key (exit code 2).
    """
    merged: dict[str, Any] = {}
    config_file = values.get("config_file")
    if config_file:
        try:
            data = read_config_file(config_file)
        except ConfigError as err:
            raise click.UsageError(str(err)) from None
        for key, value in data.items():
            if key in ("output_dir", "output_file", "input_dir") or value is None:
                continue
            if key not in cfg.PARAM_BY_KEY and key not in cfg.EXTRA_KEYS:
                if key in DOWNSTREAM_KEYS:
                    continue
                hint = cfg.suggest(key, list(cfg.PARAM_BY_KEY) + list(cfg.EXTRA_KEYS))
                raise click.UsageError(f"{config_file}: unknown parameter {key!r}{hint}")
            merged[key] = value
    for key, value in values.items():
        if key not in cfg.PARAM_BY_KEY:
            continue
        source = ctx.get_parameter_source(key)
        from_cli = source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")
        if from_cli or key not in merged:
            merged[key] = list(value) if isinstance(value, tuple) and \
                cfg.PARAM_BY_KEY[key].kind in (cfg.INT_LIST, cfg.STR_LIST) else value
    try:
        return make_config(merged, source=str(config_file or "options"))
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


def fail(error: object, *extra: str, code: int = 1) -> NoReturn:
    """End the command with ``Error: <error>`` (and ``extra`` lines) on stderr, exit ``code``."""
    click.echo(f"Error: {error}", err=True)
    for line in extra:
        click.echo(line, err=True)
    sys.exit(code)
