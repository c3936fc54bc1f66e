"""TIFF images of the ``proc/`` folder (background, ROI masks, first frame) with a scale factor.

Layout (spec 5.3): uncompressed TIFF written by tifffile; the ImageDescription is the JSON
``{"shape": [...], "scale_factor": "<text>"}``.  The scale factor text decides how stored
integers map back to values:

* ``"65"`` (a number ``k``) -- stored = value x k; read back as stored / k (float64).  With
  ``scale_factor=None`` the writer picks ``k = int(65535 / max(value))`` (``bground.tiff``).
  ROI masks are written with ``scale_factor=65535`` (stored = mask x 65535).
* ``"(lo, hi)"`` (a tuple) -- ``lo .. hi`` maps linearly to ``0 .. 65535`` (clipped); read
  back as ``stored / 65535 * (hi - lo) + lo``.
* ``"[lo, hi]"`` (a list) -- the original's ``first_frame.tiff`` convention: the image is
  stored *unscaled* and the list only records the depth range; read back unscaled.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from ..paths import atomic_path

logger = logging.getLogger(__name__)


def _num(value: Any) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def _import_tifffile() -> Any:
    try:
        import tifffile
    except ImportError:  # pragma: no cover - hard dependency
        raise ImportError("TIFF support needs tifffile: pip install tifffile") from None
    return tifffile


def write_image(
    filename: str | Path,
    image: np.ndarray,
    scale: bool = True,
    scale_factor: float | tuple[float, float] | list[float] | None = None,
    frame_dtype: str | np.dtype = "uint16",
    compress: int = 0,
) -> Path:
    """Write an image as an uncompressed TIFF with a scale factor in its description.

    The original's signature (spec 6.5), arguments in the same order.

    Parameters
    ----------
    filename : path-like
        Output ``.tiff`` file (written to a temporary name, then renamed).
    image : np.ndarray
        ``(H, W)`` (or ``(1, H, W)``) array; background in mm, a mask, or a frame.
    scale : bool
        Apply and record a scale factor; if False the image is stored as ``dtype`` as is.
    scale_factor : number, (lo, hi) tuple, [lo, hi] list, or None
        See the module docstring; None picks ``int(max_int / max(image))``.
    frame_dtype : str or np.dtype
        Stored integer type (``uint16``).
    compress : int
        zlib (deflate) level of the TIFF data, 0 = uncompressed (what the original's
        ``proc/`` images use).

    Returns
    -------
    Path
        The written file.
    """
    tifffile = _import_tifffile()
    path = Path(filename)
    dtype = np.dtype(frame_dtype)
    arr = np.asarray(image)
    metadata: dict[str, str] = {}
    if scale:
        if not np.issubdtype(dtype, np.integer):
            raise ValueError(f"scaled images need an integer dtype, got {dtype}")
        max_int = np.iinfo(dtype).max
        values = np.nan_to_num(arr.astype(np.float64), nan=0.0)
        if scale_factor is None:
            factor: int | float = auto_scale_factor(values, max_int)
            stored = values * factor
            metadata["scale_factor"] = str(factor)
        elif isinstance(scale_factor, tuple):
            if len(scale_factor) != 2:
                raise ValueError(f"a tuple scale_factor must be (lo, hi), got {scale_factor}")
            lo, hi = (_num(v) for v in scale_factor)
            if hi == lo:
                raise ValueError(f"scale_factor range is empty: {scale_factor}")
            stored = np.clip((values - lo) / (hi - lo), 0.0, 1.0) * max_int
            metadata["scale_factor"] = str((lo, hi))
        elif isinstance(scale_factor, list):
            stored = values
            metadata["scale_factor"] = str([_num(v) for v in scale_factor])
        else:
            factor = _num(scale_factor)
            stored = values * factor
            metadata["scale_factor"] = str(factor)
        data = _cast(stored, dtype, path)
    else:
        data = _cast(arr, dtype, path) if arr.dtype != dtype else arr
    with atomic_path(path, keep_suffix=True, durable=False) as tmp:
        extra: dict[str, Any] = {}
        if compress:
            extra = {"compression": "zlib", "compressionargs": {"level": int(compress)}}
        tifffile.imwrite(tmp, data, metadata=metadata, photometric="minisblack", **extra)
    return path


def auto_scale_factor(values: np.ndarray, max_int: int = 65535) -> int:
    """The scale factor :func:`write_image` picks without one: ``int(max_int / peak)``
    (at least 1), so that the peak value fills the stored integers."""
    peak = float(values.max()) if values.size else 0.0
    return max(int(max_int / peak) if peak > 0 else 1, 1)


def stored_values(image: np.ndarray) -> np.ndarray:
    """What :func:`read_image` returns for the file ``write_image(path, image)`` writes
    (default scale, ``uint16``), computed without writing it: ``trunc(image x k) / k``.

    Returns
    -------
    ndarray, float64, the shape of ``image``.
    """
    values = np.nan_to_num(np.asarray(image).astype(np.float64), nan=0.0)
    factor = auto_scale_factor(values)
    # stored as the write stores them; the write warns of clipping, not this
    stored = _cast(values * factor, np.dtype(np.uint16), Path(), warn=False)
    return stored.astype(np.float64) / factor


def _cast(values: np.ndarray, dtype: np.dtype, path: Path, *, warn: bool = True
          ) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        vals = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
        if warn and vals.size and (vals.min() < info.min or vals.max() > info.max):
            logger.warning("%s: values outside the %s range were clipped", path, dtype)
        # truncation, as the original's astype
        return np.clip(vals, info.min, info.max).astype(dtype)
    return np.asarray(values).astype(dtype)


def _parse_scale(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def read_image(filename: str | Path, scale: bool = True, scale_key: str = "scale_factor"
               ) -> np.ndarray:
    """Read a TIFF written by :func:`write_image` (or the original tool).

    Parameters
    ----------
    filename : path-like
        The ``.tiff`` file.
    scale : bool
        Undo the recorded scale factor (float64 result); if False, or if the file records
        none or a ``[lo, hi]`` list, the stored integers are returned.
    scale_key : str
        Key of the scale factor in the JSON ImageDescription.

    Returns
    -------
    np.ndarray
        The image, shape as stored.

    Raises
    ------
    InputFileError
        Missing or unreadable file.
    """
    tifffile = _import_tifffile()
    path = Path(filename)
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    try:
        with tifffile.TiffFile(path) as tif:
            image = tif.asarray()
            description = tif.pages[0].description if len(tif.pages) else ""
    except Exception as err:  # noqa: BLE001 - tifffile raises many types
        raise InputFileError(f"{path}: not a readable TIFF ({err})") from None
    if not scale:
        return image
    try:
        meta = json.loads(description) if description else {}
    except json.JSONDecodeError:
        meta = {}
    text = meta.get(scale_key) if isinstance(meta, dict) else None
    if text is None:
        return image
    factor = _parse_scale(str(text))
    if isinstance(factor, bool) or factor is None:
        logger.debug("%s: unrecognised scale_factor %r; returning stored values", path, text)
        return image
    if isinstance(factor, (int, float)):
        if factor == 0:
            return image
        return image.astype(np.float64) / factor
    if isinstance(factor, tuple) and len(factor) == 2:
        lo, hi = (float(v) for v in factor)
        max_int = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
        return image.astype(np.float64) / max_int * (hi - lo) + lo
    return image


def read_tiff_files(input_dir: str | Path) -> tuple[list[np.ndarray], list[str]]:
    """Every ``*.tiff`` of a folder (e.g. ``proc/``), read with :func:`read_image`.

    Returns
    -------
    (images, filenames)
        Lists in file-name order.
    """
    files = sorted(str(p) for p in Path(input_dir).glob("*.tiff"))
    return [read_image(f) for f in files], files


__all__ = ["auto_scale_factor", "read_image", "read_tiff_files", "stored_values", "write_image"]
