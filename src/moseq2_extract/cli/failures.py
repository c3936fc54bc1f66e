"""The one line a user sees when the work stops: an I/O failure or Ctrl-C.

Every command runs under :class:`SafeGroup`: an ``OSError`` that no layer turned into an
:class:`~moseq2_extract.errors.ExtractionError` (a read-only folder, a missing output
folder, a full disk, a file too large for the process's limit) ends the command with
``Error: <path>: <cause>`` and exit status 1, never a traceback; Ctrl-C ends it with one
line saying what was kept and exit status 130.  The outputs themselves are written through
:mod:`moseq2_extract.paths` (temporary names, renamed when complete), so nothing that looks
complete is left behind either way; an interrupted extraction keeps its progress under
hidden names, which a rerun continues (:mod:`moseq2_extract.pipeline.resume`).
"""

from __future__ import annotations

import errno
import os
import re
import sys
from typing import Any

import click

from .help import StagedCommand, add_verbose_option

_H5_ERRNO = re.compile(r"errno = (\d+)")
_PARTIAL = re.compile(r"\.(.+?)\.partial(\.[^.]+)?")  # paths.partial_path's names
_H5_FILE = re.compile(r"(?:file name|filename) = '([^']+)'")

_HINTS = {
    errno.EACCES: "check the folder's permissions, or write elsewhere",
    errno.EPERM: "check the folder's permissions, or write elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.ENOSPC: "free some space, or write to another disk, and run again",
    errno.EDQUOT: "free some space, or write to another disk, and run again",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f)",
    errno.ENOENT: "the folder does not exist",
}


def io_failure_line(err: OSError) -> str:
    """``<path>: <cause> (<what to do>)`` for an ``OSError`` (h5py's and PyAV's included).

    Examples
    --------
    >>> io_failure_line(OSError(27, "File too large", "proc/.results_00.h5.partial"))
    'proc/results_00.h5: cannot write (File too large) (the file is larger than this \
process may write (ulimit -f))'
    """
    code = err.errno
    text = str(err)
    if code is None:  # h5py: "Can't write data (file write failed: ..., errno = 28, ...)"
        match = _H5_ERRNO.search(text)
        code = int(match.group(1)) if match else None
    cause = os.strerror(code) if code else (err.strerror or text.splitlines()[0] if text
                                             else type(err).__name__)
    path: Any = err.filename
    if path is None:
        match = _H5_FILE.search(text)
        path = match.group(1) if match else None
    if code == errno.ENOENT and path is not None and os.path.isdir(os.path.dirname(
            os.path.abspath(str(path)))):
        hint = "no such file"
    elif code is None and "requested and" in text and "written" in text:
        hint = "a short write: is the disk full or the file-size limit (ulimit -f) reached?"
    else:
        hint = _HINTS.get(code or -1, "")
    if path is not None:  # name the file being written, not its temporary name
        head, name = os.path.split(str(path))
        match = _PARTIAL.fullmatch(name)
        if match:
            while match:  # a writer may write through a temporary name of its own
                name = match.group(1)
                match = _PARTIAL.fullmatch(name)
            path = os.path.join(head, name)
            cause = f"cannot write ({cause})"
    where = f"{path}: " if path is not None else ""
    if err.filename2 is not None:
        where = f"{path} -> {err.filename2}: "
    return f"{where}{cause}" + (f" ({hint})" if hint and hint != cause.lower() else "")


class SafeGroup(click.Group):
    """A click group whose commands end an I/O failure or Ctrl-C with one line.

    Its commands are :class:`~.help.StagedCommand` s (options grouped by stage in
    ``--help``) and each gets ``-v/--verbose``."""

    command_class = StagedCommand

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        add_verbose_option(cmd)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("", err=True)
            click.echo("Interrupted: finished outputs were kept, and an unfinished extraction's "
                       "progress up to its last saved block (hidden .results_XX.* files in "
                       "proc/); run the same command again to continue from there "
                       "(batch-extract skips the sessions already complete).", err=True)
            sys.exit(130)
        except click.exceptions.Abort:  # click's own Ctrl-C at a prompt
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except OSError as err:
            click.echo(f"Error: {io_failure_line(err)}", err=True)
            sys.exit(1)
