"""Download one of the original's published flip classifiers (spec 1.10), network allowing.

None of this is needed to get the heading right: without a classifier the extraction
resolves it without training (see docs/heading.md).  Used by the ``download-flip-file``
command and by ``helpers.wrappers.flip_file_wrapper``.
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..config import read_config_file
from ..errors import ConfigError, ExtractionError, FlipClassifierError
from ..paths import atomic_path, write_yaml_atomic
from .classifier import load_flip_classifier

logger = logging.getLogger(__name__)

BASE_URL = "https://moseq-data.s3.amazonaws.com/flip-classifiers/"

#: (menu label, URL) in the original's menu order (index = selection number).
FLIP_CLASSIFIERS: tuple[tuple[str, str], ...] = (
    ("large mice with fibers (K2)", BASE_URL + "flip_classifier_k2_largemicewithfiber.npz"),
    ("adult male c57s (K2)", BASE_URL + "flip_classifier_k2_c57_10to13weeks.npz"),
    ("mice with Inscopix cables (K2)", BASE_URL + "flip_classifier_k2_inscopix.npz"),
    ("adult male c57s (Azure)", BASE_URL + "flip_classifier_azure_temp.npz"),
)

TIMEOUT_S = 15.0

ALTERNATIVES = """\
You do not need a downloaded classifier:
  * leave flip_classifier unset: the head direction is resolved without training, from body
    shape, movement and temporal consistency (the default);
  * use a classifier file you already have: --flip-classifier PATH (.npz, or a legacy .pkl
    with the 'flip' extra installed), or set flip_classifier in config.yaml;
  * train your own from your extracted sessions:
    moseq2-extract train-flip-classifier proc_folders... -o flip_classifier.npz"""


class FlipDownloadError(ExtractionError, OSError):
    """A flip classifier could not be downloaded (``alternatives`` says what else works)."""

    alternatives = ALTERNATIVES


def flip_menu() -> str:
    """The numbered list of classifiers, one per line."""
    return "\n".join(f"[{i}] {label}" for i, (label, _) in enumerate(FLIP_CLASSIFIERS))


def _ask(menu: str) -> str:
    return input(f"{menu}\nEnter a selection: ")


def download_flip_file(
    config_file: str | os.PathLike | None,
    output_dir: str | os.PathLike | None,
    selected_flip: int | None = None,
    *,
    choose: Callable[[str], str] | None = None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Download a classifier into ``output_dir`` and point ``config_file`` at it.

    Parameters
    ----------
    config_file : path or None
        Config YAML whose ``flip_classifier`` is set to the downloaded file (skipped when
        empty; a config that cannot be updated only logs a warning, as in the original).
    output_dir : path or None
        Download folder (created if missing); None = the working directory.
    selected_flip : int, optional
        Menu index (0-3); None asks through ``choose``.
    choose : callable(menu) -> str, optional
        Asks the user for a selection given the menu text; default reads stdin.
    timeout : float
        Network timeout (s).

    Returns
    -------
    Path of the downloaded ``.npz``.

    Raises
    ------
    ConfigError
        On an invalid selection.
    FlipDownloadError
        When the file cannot be downloaded (one line; ``err.alternatives`` lists what to do
        instead) or is not a usable classifier.
    """
    if selected_flip is None:
        answer = (choose or _ask)(flip_menu())
        try:
            selected_flip = int(str(answer).strip())
        except ValueError:
            raise ConfigError(f"flip classifier selection must be a number 0-"
                              f"{len(FLIP_CLASSIFIERS) - 1}, got {answer!r}") from None
    if not 0 <= int(selected_flip) < len(FLIP_CLASSIFIERS):
        raise ConfigError(f"flip classifier selection must be 0-{len(FLIP_CLASSIFIERS) - 1}, "
                          f"got {selected_flip}")
    label, url = FLIP_CLASSIFIERS[int(selected_flip)]
    out_dir = Path(output_dir) if output_dir not in (None, "") else Path.cwd()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / url.rsplit("/", 1)[-1]
    logger.info("downloading %s (%s) to %s", label, url, path)
    with atomic_path(path) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(tmp, "wb") as fh:
                shutil.copyfileobj(response, fh, 1 << 20)
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise FlipDownloadError(f"cannot download the flip classifier from {url} "
                                    f"({reason}); no network access?") from None
        try:
            load_flip_classifier(tmp)
        except FlipClassifierError:
            raise FlipDownloadError(f"the file downloaded from {url} is not a flip "
                                    "classifier") from None
    if config_file not in (None, ""):
        set_config_flip_classifier(config_file, path)
    return path


def set_config_flip_classifier(config_file: str | os.PathLike,
                               classifier: str | os.PathLike) -> bool:
    """Set ``flip_classifier`` in a config YAML (other keys untouched); False on failure.

    Failures (missing or invalid file) are logged as warnings, not raised.
    """
    config_file = Path(config_file)
    try:
        data = read_config_file(config_file)
        data["flip_classifier"] = str(Path(classifier).resolve())
        write_yaml_atomic(config_file, data)
    except (ConfigError, OSError) as err:
        logger.warning("could not set flip_classifier in %s: %s", config_file, err)
        return False
    return True
