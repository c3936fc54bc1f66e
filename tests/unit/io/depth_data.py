"""Depth frames and archives shared by the reader tests."""

import io
import tarfile

import numpy as np


def make_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Depth-like uint16 frames: a sloped floor, a moving blob, noise, zeros, extremes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    frames = np.empty((n, height, width), dtype=np.uint16)
    for i in range(n):
        floor = 650 + (xx + 2 * yy) % 40
        blob = 80 * ((xx - (5 + 3 * i) % width) ** 2 + (yy - height // 2) ** 2 < 40)
        frame = floor - blob + rng.integers(0, 4, (height, width))
        frame[0, : min(5, width)] = 0
        frame[-1, -1] = 65535
        frames[i] = frame
    return frames


def write_tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
