"""Spreading the ROI stage's array work over a few threads.

The background and the floor plane are computed once per session, before any block
worker exists, on one thread while the other cores wait.  Their work is independent per
frame, per pixel or per plane hypothesis, and numpy and OpenCV release the GIL for it, so
it is split into parts computed on threads and put back together in order: the same
values as computed in one piece.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_threads(fn: Callable[[T], R], items: Iterable[T], *, threads: int = 1) -> list[R]:
    """``[fn(item) for item in items]``, on up to ``threads`` threads (results in order).

    The threads are joined before this returns (a process may fork afterwards).
    """
    todo = list(items)
    if threads <= 1 or len(todo) <= 1:
        return [fn(item) for item in todo]
    with ThreadPoolExecutor(min(threads, len(todo)), thread_name_prefix="roi") as pool:
        return list(pool.map(fn, todo))


def bands(length: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` (at most ``length``) contiguous ``(start, stop)`` ranges covering
    ``range(length)``, of sizes differing by at most one."""
    parts = max(1, min(parts, length))
    edges = [length * i // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))
