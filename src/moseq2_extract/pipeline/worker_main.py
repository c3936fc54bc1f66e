"""The loop a worker process runs (started by :class:`~.workpool.ProcessWorkerPool`).

A worker receives ``(task id, function, args, kwargs)`` messages on one pipe, runs them one
at a time and sends ``("ok" | "err", task id, value)`` back on another.  It never touches
the session's output files: everything it makes goes back to the parent.

Started as ``python -c "...; serve(read_fd, write_fd)"`` rather than through
``multiprocessing``, so that it works inside daemonic processes (Dask workers) and does not
re-import the parent's ``__main__``.
"""

from __future__ import annotations

import pickle
import signal
from multiprocessing.connection import Connection
from typing import Any


def _sendable(err: BaseException) -> BaseException:
    """``err`` if it survives pickling, else a RuntimeError carrying its text."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")
    return err


def serve(read_fd: int, write_fd: int) -> None:
    """Run tasks from ``read_fd`` until it closes or a ``None`` message arrives."""
    # Ctrl-C reaches the whole process group: the parent decides what to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, fn, args, kwargs = message
        reply: tuple[str, int, Any]
        try:
            reply = ("ok", task_id, fn(*args, **kwargs))
        except BaseException as err:  # every failure goes back to the parent
            reply = ("err", task_id, _sendable(err))
        try:
            outbox.send(reply)
        except (BrokenPipeError, OSError):
            return
        except Exception as err:  # the result itself could not be pickled
            outbox.send(("err", task_id, RuntimeError(f"result not transferable: {err}")))
