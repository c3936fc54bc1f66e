"""Flip classifiers in the original's pickle-free ``.npz`` random-forest format.

Format (spec 4.15, ``format_version`` 1): ``n_trees``, ``n_features``, ``n_classes``,
``n_outputs``, ``classes``, ``tree_offsets`` (n_trees + 1) and per node, concatenated over
trees: ``children_left``, ``children_right`` (-1 = leaf), ``feature``, ``threshold``,
``value`` (n_nodes, n_classes).  Class ``1`` means "the crop faces west" (flipped).
Files that are not zip archives are taken for the original's legacy scikit-learn pickles,
which load only with the optional ``flip`` extra (scikit-learn, joblib).

:func:`load_flip_model` gives the extraction a :class:`FlipModel`: crops -> log-odds that
they face west, plus the ``flip_classifier_smoothing`` window the sequence assembler
applies across chunk boundaries.  ``moseq2_extract.heading.training`` writes new forests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FlipClassifierError
from ..paths import atomic_path

ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ForestClassifier:
    """A random forest evaluated with numpy.

    Attributes mirror scikit-learn's (``classes_``, ``n_features_``, ``n_classes_``) so the
    documented helpers keep working.
    """

    classes_: np.ndarray
    n_features_: int
    tree_offsets: np.ndarray
    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    meta: dict

    @property
    def n_classes_(self) -> int:
        return len(self.classes_)

    @property
    def n_trees(self) -> int:
        return len(self.tree_offsets) - 1

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities averaged over trees.

        Parameters
        ----------
        x : ndarray, (n, n_features)
            Flattened crops (cast to float32 then compared in float64, as the format's
            reference evaluator does).

        Returns
        -------
        ndarray, (n, n_classes) float64.
        """
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features_:
            raise FlipClassifierError(f"flip classifier expects {self.n_features_} features, "
                                      f"got an array of shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise FlipClassifierError("flip classifier input contains NaN or inf")
        n = len(x)
        leaves = self.apply(x)
        sums = self.value.sum(1, keepdims=True)
        leaf_value = self.value / np.where(sums == 0, 1, sums)
        total = np.zeros((n, self.n_classes_))
        for t in range(self.n_trees):  # summed in stored tree order
            total += leaf_value[leaves[:, t]]
        return total / self.n_trees

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Global index of the leaf reached in every tree.

        Parameters
        ----------
        x : ndarray, (n, n_features) float64

        Returns
        -------
        ndarray, (n, n_trees) int64 (indices into the concatenated node arrays).
        """
        n = len(x)
        base = self.tree_offsets[:-1][None, :]
        node = np.repeat(base, n, axis=0)
        rows = np.arange(n)[:, None]
        while True:
            left = self.children_left[node]
            inner = left != -1
            if not inner.any():
                return node
            go_left = x[rows, self.feature[node].clip(0)] <= self.threshold[node]
            nxt = np.where(go_left, left, self.children_right[node]) + base
            node = np.where(inner, nxt, node)

    def log_odds_flipped(self, crops: np.ndarray) -> np.ndarray:
        """Per-frame log-odds that a crop faces west.

        Parameters
        ----------
        crops : ndarray, (n, c, c)

        Returns
        -------
        ndarray, (n,) float64.
        """
        proba = self.predict_proba(crops.reshape(len(crops), -1))
        k = int(np.flatnonzero(self.classes_ == 1)[0]) if np.any(self.classes_ == 1) else 1
        p = np.clip(proba[:, k], 1e-3, 1 - 1e-3)
        return np.log(p) - np.log1p(-p)


def load_flip_classifier(path: str | Path) -> ForestClassifier:
    """Load an ``.npz`` forest (or, with scikit-learn installed, a legacy pickle).

    Raises
    ------
    FlipClassifierError
        When the file is missing or not a usable classifier (one line naming it).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as err:
        raise FlipClassifierError(f"{path}: cannot read flip classifier ({err.strerror})"
                                  ) from None
    if head != ZIP_MAGIC:
        return _load_pickle(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (ValueError, OSError) as err:
        raise FlipClassifierError(f"{path}: not a valid .npz flip classifier ({err})") from None
    need = ("n_features", "classes", "tree_offsets", "children_left", "children_right",
            "feature", "threshold", "value")
    missing = [k for k in need if k not in data]
    if missing:
        raise FlipClassifierError(f"{path}: flip classifier lacks {', '.join(missing)}")
    offsets = data["tree_offsets"].astype(np.int64)
    # child indices are relative to their tree; the tree's base is added on descent
    meta = {}
    if "meta_keys" in data and "meta_values" in data:
        meta = {str(k): str(v) for k, v in zip(data["meta_keys"], data["meta_values"])}
    return ForestClassifier(
        classes_=np.asarray(data["classes"]), n_features_=int(data["n_features"]),
        tree_offsets=offsets, children_left=data["children_left"].astype(np.int64),
        children_right=data["children_right"].astype(np.int64),
        feature=data["feature"].astype(np.int64), threshold=data["threshold"].astype(float),
        value=np.asarray(data["value"], dtype=np.float64).reshape(offsets[-1], -1), meta=meta)


def save_flip_classifier(path: str | Path, forest: ForestClassifier) -> Path:
    """Write ``forest`` in the ``.npz`` format (atomically)."""
    path = Path(path)
    keys = np.array(list(forest.meta.keys()), dtype=str)
    values = np.array(list(forest.meta.values()), dtype=str)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, format_version=np.int64(1), n_trees=np.int64(forest.n_trees),
                 n_features=np.int64(forest.n_features_), n_classes=np.int64(forest.n_classes_),
                 n_outputs=np.int64(1), classes=forest.classes_, tree_offsets=forest.tree_offsets,
                 children_left=forest.children_left, children_right=forest.children_right,
                 feature=forest.feature, threshold=forest.threshold, value=forest.value,
                 meta_keys=keys, meta_values=values)
    return path


def _load_pickle(path: Path):
    try:
        import joblib
    except ImportError:
        raise FlipClassifierError(
            f"{path}: legacy pickled flip classifier; install the 'flip' extra "
            "(pip install moseq2-extract[flip]) or use an .npz classifier") from None
    try:
        clf = joblib.load(path)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file
        raise FlipClassifierError(f"{path}: cannot load pickled flip classifier "
                                  f"({type(err).__name__}: {err})") from None
    if not hasattr(clf, "predict_proba"):
        raise FlipClassifierError(f"{path}: the pickle is not a classifier")
    return clf


@dataclass(frozen=True)
class FlipModel:
    """A loaded classifier as the extraction uses it.

    Calling it maps filtered, axis-aligned crops ``(n, c, c)`` to per-frame log-odds that
    the crop faces west (head on the left).

    Attributes
    ----------
    classifier : ForestClassifier or a scikit-learn classifier
    crop_size : int
    smoothing : int
        Median window (frames) over the classifier's probabilities, applied along time
        across chunk boundaries by :class:`~.sequence.SequenceAssembler` (1 = none).
    path : str
    """

    classifier: Any
    crop_size: int
    smoothing: int = 1
    path: str = ""

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.shape[1:] != (self.crop_size, self.crop_size):
            raise FlipClassifierError(f"{self.path}: classifier expects crops of "
                                      f"{self.crop_size}x{self.crop_size}, got {crops.shape}")
        if len(crops) == 0:
            return np.zeros(0)
        clf = self.classifier
        if isinstance(clf, ForestClassifier):
            return clf.log_odds_flipped(crops)
        proba = np.asarray(clf.predict_proba(crops.reshape(len(crops), -1).astype(np.float32)))
        k = int(np.flatnonzero(np.asarray(clf.classes_) == 1)[0])
        p = np.clip(proba[:, k], 1e-3, 1 - 1e-3)
        return np.log(p) - np.log1p(-p)


def classifier_features(clf) -> int:
    """Number of input features of a loaded classifier (``n_features_`` or sklearn's)."""
    for name in ("n_features_", "n_features_in_"):
        value = getattr(clf, name, None)
        if value is not None:
            return int(value)
    raise FlipClassifierError("flip classifier does not say how many features it expects")


def load_flip_model(config) -> FlipModel | None:
    """The classifier named by ``config.flip_classifier``, ready for extraction.

    Returns None when no classifier is configured (the training-free heading is used).

    Raises
    ------
    FlipClassifierError
        If the file cannot be used or was trained for another crop size.
    """
    if not config.flip_classifier:
        return None
    path = str(config.flip_classifier)
    clf = load_flip_classifier(path)
    c = config.crop_size[0]
    n_features = classifier_features(clf)
    if n_features != c * c:
        side = int(round(n_features ** 0.5))
        hint = f" (crops of {side}x{side})" if side * side == n_features else ""
        raise FlipClassifierError(
            f"{path}: classifier expects {n_features} features{hint} but crop_size "
            f"{c}x{c} gives {c * c}; use a classifier trained for this crop size or set "
            "crop_size to match")
    smoothing = int(getattr(config, "flip_classifier_smoothing", 1) or 1)
    return FlipModel(clf, crop_size=c, smoothing=max(1, smoothing), path=path)
