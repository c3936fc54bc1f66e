"""Flip classifiers in the original's pickle-free ``.npz`` random-forest format.

Format (spec 4.15, ``format_version`` 1): ``n_trees``, ``n_features``, ``n_classes``,
``n_outputs``, ``classes``, ``tree_offsets`` (n_trees + 1) and per node, concatenated over
trees: ``children_left``, ``children_right`` (-1 = leaf), ``feature``, ``threshold``,
``value`` (n_nodes, n_classes).  Class ``1`` means "the crop faces west" (flipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FlipClassifierError

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
        rows = np.arange(n)
        total = np.zeros((n, self.n_classes_))
        leaf_value = self.value / np.where(self.value.sum(1, keepdims=True) == 0, 1,
                                           self.value.sum(1, keepdims=True))
        for t in range(self.n_trees):
            node = np.full(n, self.tree_offsets[t], dtype=np.int64)
            base = self.tree_offsets[t]
            while True:
                left = self.children_left[node]
                inner = left != -1
                if not inner.any():
                    break
                go_left = x[rows, self.feature[node].clip(0)] <= self.threshold[node]
                nxt = np.where(go_left, left, self.children_right[node]) + base
                node = np.where(inner, nxt, node)
            total += leaf_value[node]
        return total / self.n_trees

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
        head = path.open("rb").read(4)
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
    tmp = path.with_name(f".{path.name}.partial.npz")
    keys = np.array(list(forest.meta.keys()), dtype=str)
    values = np.array(list(forest.meta.values()), dtype=str)
    np.savez(tmp, format_version=np.int64(1), n_trees=np.int64(forest.n_trees),
             n_features=np.int64(forest.n_features_), n_classes=np.int64(forest.n_classes_),
             n_outputs=np.int64(1), classes=forest.classes_, tree_offsets=forest.tree_offsets,
             children_left=forest.children_left, children_right=forest.children_right,
             feature=forest.feature, threshold=forest.threshold, value=forest.value,
             meta_keys=keys, meta_values=values)
    tmp.replace(path)
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


def load_flip_model(config):
    """The classifier named by ``config.flip_classifier`` as a crop -> log-odds callable.

    Returns None when no classifier is configured (the training-free heading is used).

    Raises
    ------
    FlipClassifierError
        If the file cannot be used or was trained for another crop size.
    """
    if not config.flip_classifier:
        return None
    clf = load_flip_classifier(config.flip_classifier)
    c = int(config.crop_size[0])
    n_features = int(getattr(clf, "n_features_", getattr(clf, "n_features_in_", c * c)))
    if n_features != c * c:
        raise FlipClassifierError(
            f"{config.flip_classifier}: classifier expects {n_features} features but crop_size "
            f"{c}x{c} gives {c * c}; use a classifier trained for this crop size")
    if isinstance(clf, ForestClassifier):
        return clf.log_odds_flipped

    def legacy(crops: np.ndarray) -> np.ndarray:
        proba = clf.predict_proba(crops.reshape(len(crops), -1).astype(np.float32))
        k = int(np.flatnonzero(np.asarray(clf.classes_) == 1)[0])
        p = np.clip(proba[:, k], 1e-3, 1 - 1e-3)
        return np.log(p) - np.log1p(-p)

    return legacy
