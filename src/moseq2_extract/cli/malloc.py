"""Process-wide memory allocator settings of the command line.

glibc's malloc gives every thread that allocates its own arena (up to eight per core),
and memory freed in one arena is not reused by another: the extraction's threads (h5
compression, preview encoding, the block loop) each hold on to their arena's peak, and
the main process's resident memory grows with the recording's length (176 MB after a
1-minute session, 196 MB after a 10-minute one). Two arenas keep it near the first
figure at the same speed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``M_ARENA_MAX`` of glibc's ``mallopt``.
_M_ARENA_MAX = -8
#: Arenas the command line's processes use.
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc arenas of this process (and of the processes it forks).

    Call it before threads start. Returns whether the setting was applied (False on other
    C libraries and platforms, where nothing is changed).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, int(arenas)))
