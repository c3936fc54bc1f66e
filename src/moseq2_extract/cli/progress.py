"""Progress bars of the command line (tqdm, on stderr): the library reports progress
through callbacks, the CLI draws them here."""

from __future__ import annotations

import sys
from typing import Any


class TqdmProgress:
    """Renders the library's progress callback as a tqdm bar with frames/s."""

    def __init__(self, desc: str, enabled: bool = True):
        self.bar: Any = None
        self.desc = desc
        self.enabled = enabled

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = new_bar(total=total, desc=self.desc, unit="frame",
                                dynamic_ncols=True, file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def show_bars(progress_bar: bool) -> bool:
    """Progress bars are drawn on a terminal; ``-p/--progress-bar`` draws them also into a
    log file or a pipe (a SLURM job's output, ``| tee``)."""
    return bool(progress_bar) or sys.stderr.isatty()


def new_bar(**kwargs):
    """A tqdm bar; tqdm is imported on first use (it is not needed to start work), with a
    thread lock (no multiprocessing import) and no monitor thread."""
    import threading

    from tqdm import tqdm

    tqdm.monitor_interval = 0
    if not hasattr(tqdm, "_lock"):
        tqdm.set_lock(threading.RLock())
    return tqdm(**kwargs)
