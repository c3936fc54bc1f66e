"""Egocentric crops: one affine warp centres the mouse and turns its axis horizontal."""

from __future__ import annotations

import cv2
import numpy as np


def crop_transform(x: float, y: float, angle: float, crop_size: int) -> np.ndarray:
    """Affine map from image to crop coordinates.

    The point (x, y) goes to the crop centre ((c - 1) / 2, (c - 1) / 2) and the direction
    ``angle`` (radians, counter-clockwise as displayed) goes to +x (east).

    Returns
    -------
    ndarray, (2, 3) float64, for ``cv2.warpAffine``.
    """
    m = cv2.getRotationMatrix2D((float(x), float(y)), -np.degrees(angle), 1.0)
    centre = (crop_size - 1) / 2.0
    m[0, 2] += centre - x
    m[1, 2] += centre - y
    return m


def crop_rotate(
    image: np.ndarray, transform: np.ndarray, crop_size: int, *, nearest: bool = False,
    out: np.ndarray | None = None
) -> np.ndarray:
    """Warp ``image`` into a ``crop_size`` square (zeros outside the image).

    Parameters
    ----------
    image : ndarray, (h, w) uint8 / uint16 / float32
    transform : ndarray, (2, 3) from :func:`crop_transform`
    nearest : bool
        Nearest-neighbour instead of bilinear interpolation (masks).
    out : ndarray, (crop_size, crop_size), optional
        Contiguous destination of ``image``'s dtype, written in place.

    Returns
    -------
    ndarray, (crop_size, crop_size), dtype of ``image`` (``out`` when given).
    """
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    direct = out is not None and out.dtype == image.dtype and out.flags.c_contiguous
    crop = cv2.warpAffine(image, transform, (crop_size, crop_size),
                          dst=out if direct else None, flags=flags,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if out is not None and not direct:
        out[...] = crop
        return out
    return crop


#: Rows either side of the crop's centre row averaged into :func:`spine_profile`.
SPINE_BAND = 2


def spine_profile(crops: np.ndarray) -> np.ndarray:
    """Height along the crops' centre rows: the mouse's spine, tail to head (head on the
    right when the heading is right).

    Parameters
    ----------
    crops : ndarray, (k, c0, c1) uint8 / uint16
        Egocentric crops (mm).

    Returns
    -------
    ndarray, (k, c1), the crops' dtype
        Mean of the :data:`SPINE_BAND` rows either side of the centre (the centre row, or
        the two of an even crop size), rounded (mm).
    """
    crops = np.asarray(crops)
    c0 = crops.shape[1]
    lo = max(0, (c0 - 1) // 2 - SPINE_BAND)
    hi = min(c0, c0 // 2 + SPINE_BAND + 1)
    mean = crops[:, lo:hi, :].mean(axis=1, dtype=np.float32)
    return np.rint(mean).astype(crops.dtype)
