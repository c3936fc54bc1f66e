"""Train a flip classifier from a user's own extracted sessions (no scikit-learn needed).

Self-supervised: the training-free heading resolution stores, for every frame, whether it
turned the crop and how confident it was (``metadata/extraction/heading_confidence``).
Frames decided with high confidence are examples of crops that face east (class 0); the
same crops turned by 180 degrees are examples of crops that face west (class 1, the class
the extraction flips).  Optionally a small CSV of hand-labelled frames adds (and
overrides) labels.  Both sides of the body are equally likely, so every example is also
mirrored top-bottom, and a randomly rescaled copy of each (mice differ in size).

The classifier is a random forest grown here with numpy (Gini splits on a grid of crop
pixels, heights binned in 2 mm steps) and written in the original's pickle-free ``.npz``
format (spec 4.15), over the full ``crop_size ** 2`` pixel features, so both this package
and moseq2-extract 1.4 can use it.

Hand-label CSV (header line required, ``#`` comments allowed)::

    h5_file,frame_index,head
    session1/proc/results_00.h5,120,east
    session1/proc/results_00.h5,4410,west

``frame_index`` is the row of ``frames`` in that h5 file; ``head`` says where the head is
in the stored crop (``east``/``right`` or ``west``/``left``).  Relative paths are taken
from the CSV's folder.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import FlipClassifierError, InputFileError
from ..extract.frames import filter_frames
from ..output.h5layout import read_group
from ..roi.roi import make_strel
from .classifier import ForestClassifier, save_flip_classifier

logger = logging.getLogger(__name__)

CONFIDENCE_DATASET = "metadata/extraction/heading_confidence"
PARAMETERS_GROUP = "metadata/extraction/parameters"
BIN_EDGES = np.arange(0.5, 255.0, 2.0)  # split thresholds (mm): integers <= edge go left
MIN_MOUSE_PX = 50  # crops with fewer mask pixels are not used
READ_BLOCK = 1024  # frames read from an h5 file at a time

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ForestParams:
    """Knobs of the random forest.

    Attributes
    ----------
    n_trees : int
    max_depth : int
    min_samples_leaf : int
    max_features : int
        Candidate pixels tried at each split.
    max_samples : int
        Bootstrap sample size per tree.
    pixel_stride : int
        Candidate pixels lie on a grid of this step (0 = about 40 x 40 pixels).
    """

    n_trees: int = 32
    max_depth: int = 12
    min_samples_leaf: int = 5
    max_features: int = 64
    max_samples: int = 10000
    pixel_stride: int = 0


@dataclass
class TrainingFrames:
    """Labelled crops.

    Attributes
    ----------
    crops : ndarray, (n, c, c)
        Filtered height crops (mm) with the head east.
    weight : ndarray, (n,) float64
    holdout : ndarray, (n,) bool
        Frames kept out of training to measure accuracy.
    hand : ndarray, (n,) bool
        Frames labelled by hand.
    """

    crops: np.ndarray
    weight: np.ndarray
    holdout: np.ndarray
    hand: np.ndarray

    def __len__(self) -> int:
        return len(self.crops)


@dataclass(frozen=True)
class TrainingReport:
    """What :func:`train_flip_classifier` did.

    Attributes
    ----------
    output_file : Path
    n_sessions : int
    n_train, n_holdout : int
        Frames used for training / held out (before augmentation).
    n_hand : int
        Hand-labelled frames used.
    holdout_accuracy : float
        Accuracy on the held-out frames (each shown facing east and west; labels from the
        training-free decisions and hand labels).
    hand_accuracy : float or None
        Accuracy on held-out hand-labelled frames, if any.
    crop_size : int
    """

    output_file: Path
    n_sessions: int
    n_train: int
    n_holdout: int
    n_hand: int
    holdout_accuracy: float
    hand_accuracy: float | None
    crop_size: int


def _pair(value: Any) -> tuple[int, int]:
    a, b = (int(k) for k in value)
    return a, b


def find_session_files(paths: Iterable[str | Path]) -> list[Path]:
    """Extracted ``.h5`` files named directly or found under folders, one per session.

    Sessions are recognised by ``metadata/uuid`` so that an ``aggregate_results`` copy and
    its ``proc`` original count once.

    Raises
    ------
    InputFileError
        When a path does not exist or nothing usable is found.
    """
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(p.rglob("*.h5")))
        elif p.is_file():
            found.append(p)
        else:
            raise InputFileError(f"{p}: no such file or folder")
    out, seen = [], set()
    for path in found:
        try:
            with h5py.File(path, "r") as f:
                if "frames" not in f:
                    logger.warning("%s: no frames dataset; skipped", path)
                    continue
                uid = f["metadata/uuid"][()] if "metadata/uuid" in f else str(path.resolve())
        except OSError:
            logger.warning("%s: not an HDF5 file; skipped", path)
            continue
        uid = uid.decode() if isinstance(uid, bytes) else str(uid)
        if uid in seen:
            continue
        seen.add(uid)
        out.append(path)
    if not out:
        raise InputFileError("no extracted sessions (.h5 with frames) found in "
                             + ", ".join(str(p) for p in paths))
    return out


def _session_filter(f: h5py.File) -> Callable[[np.ndarray], np.ndarray]:
    """The session's per-frame clean-up (spatial median, tail opening) from its parameters."""
    params = read_group(f[PARAMETERS_GROUP]) if PARAMETERS_GROUP in f else {}

    def get(key, default):
        value = params.get(key)
        return default if value is None else value

    spatial = get("spatial_filter_size", [3])
    spatial = [int(k) for k in (spatial if isinstance(spatial, list) else [spatial])]
    tail = make_strel(str(get("tail_filter_shape", "ellipse")),
                      _pair(get("tail_filter_size", [9, 9])))
    cable = make_strel(str(get("cable_filter_shape", "rectangle")),
                       _pair(get("cable_filter_size", [5, 5])))
    tail_iters = int(get("tail_filter_iters", 1))
    cable_iters = int(get("cable_filter_iters", 0))

    def run(crops: np.ndarray) -> np.ndarray:
        return filter_frames(crops, spatial_filter_size=spatial, strel_tail=tail,
                             tail_filter_iters=tail_iters, strel_cable=cable,
                             cable_filter_iters=cable_iters)

    return run


def _read_rows(f: h5py.File, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` and ``frames_mask`` at sorted ``rows``, read block by block."""
    frames = f["frames"]
    masks = f.get("frames_mask")
    if masks is not None and masks.dtype != bool:  # tracking-model likelihoods
        masks = None
    out_f, out_m = [], []
    for a in range(0, len(frames), READ_BLOCK):
        sel = rows[(rows >= a) & (rows < a + READ_BLOCK)]
        if not len(sel):
            continue
        b = int(sel[-1]) + 1
        block = frames[a:b]
        out_f.append(block[sel - a])
        if masks is not None:
            out_m.append(masks[a:b][sel - a] > 0)
        else:
            out_m.append(block[sel - a] > 0)
    if not out_f:
        c = frames.shape[1:]
        return np.zeros((0, *c), frames.dtype), np.zeros((0, *c), bool)
    return np.concatenate(out_f), np.concatenate(out_m)


def read_hand_labels(path: str | Path) -> dict[Path, dict[int, bool]]:
    """Hand labels: ``{h5 path: {frame row: head_is_east}}``.

    Raises
    ------
    InputFileError
        On a missing or malformed file (one line naming it and the bad line).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InputFileError(f"{path}: cannot read hand labels ({err.strerror})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    need = {"h5_file", "frame_index", "head"}
    if reader.fieldnames is None or not need <= {k.strip() for k in reader.fieldnames}:
        raise InputFileError(f"{path}: hand labels need a header line 'h5_file,frame_index,"
                             "head'")
    out: dict[Path, dict[int, bool]] = {}
    for k, row in enumerate(reader, start=2):
        row = {key.strip(): (v or "").strip() for key, v in row.items() if key}
        head = row["head"].lower()
        if head not in ("east", "right", "west", "left"):
            raise InputFileError(f"{path}: line {k}: head must be east/right or west/left, "
                                 f"got {row['head']!r}")
        try:
            index = int(row["frame_index"])
        except ValueError:
            raise InputFileError(f"{path}: line {k}: frame_index must be an integer, got "
                                 f"{row['frame_index']!r}") from None
        h5 = Path(row["h5_file"])
        if not h5.is_absolute():
            h5 = path.parent / h5
        out.setdefault(h5.resolve(), {})[index] = head in ("east", "right")
    return out


def collect_frames(
    files: Sequence[Path],
    *,
    hand_labels: dict[Path, dict[int, bool]] | None = None,
    min_confidence: float = 0.99,
    max_frames: int = 3000,
    holdout: float = 0.2,
    hand_weight: float = 5.0,
    rng: np.random.Generator | None = None,
) -> TrainingFrames:
    """Read the labelled crops of several sessions.

    Parameters
    ----------
    files : sequence of Path
        Extracted ``.h5`` files (results of this package's training-free extraction, or
        any file for which ``hand_labels`` are given).
    hand_labels : dict, optional
        From :func:`read_hand_labels`; files only named there are read too.
    min_confidence : float
        Frames whose stored heading confidence is at least this become examples.
    max_frames : int
        Confident frames used per session at most (spread evenly over the recording).
    holdout : float
        Fraction of each session's frames, the last ones in time, kept for testing.
    hand_weight : float
        Weight of a hand-labelled frame relative to a self-labelled one.
    rng : numpy Generator, optional

    Returns
    -------
    TrainingFrames

    Raises
    ------
    FlipClassifierError
        When sessions have different crop sizes or no usable frames are found.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    hand_labels = dict(hand_labels or {})
    by_path = {Path(p).resolve(): Path(p) for p in files}
    for p in hand_labels:
        by_path.setdefault(p, p)
    crops, weights, held, hand = [], [], [], []
    crop_shape = None
    for key, path in by_path.items():
        labels = hand_labels.get(key, {})
        try:
            f = h5py.File(path, "r")
        except OSError as err:
            raise InputFileError(f"{path}: cannot open extraction results ({err})") from None
        with f:
            if "frames" not in f:
                raise InputFileError(f"{path}: no frames dataset (not an extraction result)")
            n, *shape = f["frames"].shape
            if crop_shape is None:
                crop_shape = tuple(shape)
            elif tuple(shape) != crop_shape:
                raise FlipClassifierError(f"{path}: crops of {shape[0]}x{shape[1]} differ "
                                          f"from the other sessions' {crop_shape[0]}x"
                                          f"{crop_shape[1]}; train one classifier per size")
            auto = np.zeros(0, np.int64)
            if key in {Path(p).resolve() for p in files}:
                if CONFIDENCE_DATASET in f:
                    conf = f[CONFIDENCE_DATASET][()]
                    auto = np.flatnonzero(conf >= min_confidence)
                elif not labels:
                    raise FlipClassifierError(
                        f"{path}: no {CONFIDENCE_DATASET}; extract it with this package's "
                        "training-free heading, or give hand labels")
                if len(auto) > max_frames:
                    auto = auto[np.linspace(0, len(auto) - 1, max_frames).round().astype(int)]
            bad = [i for i in labels if not 0 <= i < n]
            if bad:
                raise InputFileError(f"{path}: hand-labelled frame {bad[0]} outside 0..{n - 1}")
            rows = np.union1d(auto, np.fromiter(labels, np.int64, len(labels)))
            if not len(rows):
                logger.warning("%s: no frame with heading confidence >= %g", path,
                               min_confidence)
                continue
            frames, masks = _read_rows(f, rows)
            filt = _session_filter(f)(frames)
        east = np.ones(len(rows), bool)
        is_hand = np.isin(rows, np.fromiter(labels, np.int64, len(labels)))
        for j in np.flatnonzero(is_hand):
            east[j] = labels[int(rows[j])]
        keep = masks.reshape(len(rows), -1).sum(axis=1) >= MIN_MOUSE_PX
        filt[~east] = filt[~east][:, ::-1, ::-1]  # every example with the head east
        cut = np.zeros(len(rows), bool)
        order = np.argsort(rows)
        cut[order[int(math.floor(len(rows) * (1 - holdout))):]] = True
        if holdout > 0 and is_hand.any():  # hand labels: the last ones in time held out
            hand_rows = np.flatnonzero(is_hand)
            n_hold = int(round(holdout * len(hand_rows)))
            cut[hand_rows] = False
            if n_hold:
                cut[hand_rows[np.argsort(rows[hand_rows])][-n_hold:]] = True
        crops.append(filt[keep])
        weights.append(np.where(is_hand, hand_weight, 1.0)[keep])
        held.append(cut[keep])
        hand.append(is_hand[keep])
    if not crops or sum(len(c) for c in crops) == 0:
        raise FlipClassifierError("no usable training frames (try a lower --min-confidence "
                                  "or add hand labels)")
    return TrainingFrames(np.concatenate(crops), np.concatenate(weights),
                          np.concatenate(held), np.concatenate(hand))


def augment(crops: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head-east crops -> (crops, labels, weights) with 180-degree turns and mirrors.

    Class 0: facing east (as given and mirrored top-bottom); class 1: the same turned by
    180 degrees (facing west).
    """
    mirrored = crops[:, ::-1, :]
    x = np.concatenate([crops, mirrored, crops[:, ::-1, ::-1], mirrored[:, ::-1, ::-1]])
    n = len(crops)
    y = np.repeat(np.array([0, 0, 1, 1], np.int64), n)
    w = np.tile(weight, 4)
    return x, y, w


def jitter(crops: np.ndarray, rng: np.random.Generator, *, scale: tuple[float, float] = (
        0.8, 1.25), degrees: float = 6.0, shift: float = 1.5) -> np.ndarray:
    """Randomly rescaled, slightly turned and shifted copies of head-east crops.

    Makes the forest less tied to one mouse size and to the exact centring.

    Parameters
    ----------
    crops : ndarray, (n, c, c)
    rng : numpy Generator
    scale : (lo, hi)
        Range of the size factor (log-uniform).
    degrees, shift : float
        Largest turn (degrees) and shift (px).

    Returns
    -------
    ndarray, (n, c, c), same dtype.
    """
    import cv2

    n, c, _ = crops.shape
    out = np.empty_like(crops)
    factors = np.exp(np.asarray(rng.uniform(np.log(scale[0]), np.log(scale[1]), size=n)))
    turns = np.asarray(rng.uniform(-degrees, degrees, size=n))
    moves = np.asarray(rng.uniform(-shift, shift, size=(n, 2)))
    centre = ((c - 1) / 2, (c - 1) / 2)
    for i in range(n):
        m = np.asarray(cv2.getRotationMatrix2D(centre, float(turns[i]), float(factors[i])))
        m[:, 2] += moves[i]
        out[i] = cv2.warpAffine(crops[i], m, (c, c), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def view_values(crops: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values at ``pixels`` of the four views of head-east crops, without copying crops.

    Views: as given, mirrored top-bottom (class 0), and both turned by 180 degrees
    (class 1).

    Returns
    -------
    (values, labels) : ndarray (4n, m) and (4n,) int64.
    """
    n, c, _ = crops.shape
    flat = crops.reshape(n, -1)
    r, col = np.divmod(pixels, c)
    maps = [pixels, (c - 1 - r) * c + col, (c - 1 - r) * c + (c - 1 - col),
            r * c + (c - 1 - col)]
    values = np.concatenate([flat[:, m] for m in maps])
    labels = np.repeat(np.array([0, 0, 1, 1], np.int64), n)
    return values, labels


def candidate_pixels(crop_size: int, stride: int = 0) -> np.ndarray:
    """Flat indices of the pixels the trees may split on (a centred grid)."""
    stride = stride if stride > 0 else max(1, crop_size // 40)
    start = (crop_size - 1) % stride // 2
    axis = np.arange(start, crop_size, stride)
    return (axis[:, None] * crop_size + axis[None, :]).ravel()


@dataclass
class _Tree:
    left: list = field(default_factory=list)
    right: list = field(default_factory=list)
    feature: list = field(default_factory=list)
    threshold: list = field(default_factory=list)
    value: list = field(default_factory=list)

    def add(self, value: np.ndarray) -> int:
        self.left.append(-1)
        self.right.append(-1)
        self.feature.append(-2)
        self.threshold.append(-2.0)
        self.value.append(value)
        return len(self.left) - 1


def _best_split(codes: np.ndarray, y: np.ndarray, w: np.ndarray, n_bins: int,
                min_leaf: int) -> tuple[int, int, float]:
    """Best (column, bin, score) of a Gini split; column -1 when none is valid."""
    n, m = codes.shape
    idx = (np.arange(m)[None, :] * n_bins + codes.astype(np.int64)) * 2 + y[:, None]
    hist = np.bincount(idx.ravel(), weights=np.broadcast_to(w[:, None], (n, m)).ravel(),
                       minlength=m * n_bins * 2).reshape(m, n_bins, 2)
    counts = np.bincount((np.arange(m)[None, :] * n_bins + codes).ravel(),
                         minlength=m * n_bins).reshape(m, n_bins)
    left = np.cumsum(hist, axis=1)[:, :-1]
    n_left = np.cumsum(counts, axis=1)[:, :-1]
    total = hist.sum(axis=1)[:, None, :]
    right = total - left
    wl, wr = left.sum(-1), right.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = (left ** 2).sum(-1) / wl + (right ** 2).sum(-1) / wr
    ok = (n_left >= min_leaf) & (n - n_left >= min_leaf) & (wl > 0) & (wr > 0)
    score = np.where(ok, score, -np.inf)
    best = int(np.argmax(score))
    col, b = divmod(best, n_bins - 1)
    return (col, b, float(score[col, b])) if np.isfinite(score[col, b]) else (-1, 0, 0.0)


def _grow_tree(codes: np.ndarray, y: np.ndarray, w: np.ndarray, pixels: np.ndarray,
               params: ForestParams, rng: np.random.Generator) -> _Tree:
    """One tree on binned candidate pixels ``codes`` (n, m); features mapped to ``pixels``."""
    n_bins = len(BIN_EDGES) + 1
    tree = _Tree()
    root = tree.add(np.bincount(y, weights=w, minlength=2))
    stack = [(root, np.arange(len(y)), 0)]
    m = codes.shape[1]
    k = min(params.max_features, m)
    while stack:
        node, rows, depth = stack.pop()
        value = tree.value[node]
        if depth >= params.max_depth or len(rows) < 2 * params.min_samples_leaf or \
                min(value) <= 0:
            continue
        cols = rng.choice(m, k, replace=False)
        sub = codes[rows][:, cols]
        col, b, score = _best_split(sub, y[rows], w[rows], n_bins, params.min_samples_leaf)
        parent = float((value ** 2).sum() / value.sum())
        if col < 0 or score <= parent * (1 + 1e-12):
            continue
        go_left = sub[:, col] <= b
        tree.feature[node] = int(pixels[cols[col]])
        tree.threshold[node] = float(BIN_EDGES[b])
        for side, sel in ((0, rows[go_left]), (1, rows[~go_left])):
            child = tree.add(np.bincount(y[sel], weights=w[sel], minlength=2))
            if side == 0:
                tree.left[node] = child
            else:
                tree.right[node] = child
            stack.append((child, sel, depth + 1))
    return tree


def train_forest(
    values: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    pixels: np.ndarray,
    crop_size: int,
    params: ForestParams | None = None,
    rng: np.random.Generator | None = None,
    meta: dict | None = None,
) -> ForestClassifier:
    """Grow a random forest whose features are crop pixels.

    Parameters
    ----------
    values : ndarray, (n, m)
        Heights (mm) of each example at the candidate ``pixels``.
    labels : ndarray, (n,) int
        0 = faces east, 1 = faces west.
    weight : ndarray, (n,) float, optional
    pixels : ndarray, (m,) int
        Flat index in the ``crop_size`` x ``crop_size`` crop of each column of ``values``.
    crop_size : int
    params : ForestParams, optional
    rng : numpy Generator, optional
    meta : dict, optional
        Strings stored with the forest.

    Returns
    -------
    ForestClassifier over ``crop_size ** 2`` features (class 1 = faces west).
    """
    params = params or ForestParams()
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(values)
    y = np.asarray(labels, np.int64)
    w = np.ones(n) if weight is None else np.asarray(weight, np.float64)
    codes = np.searchsorted(BIN_EDGES, values, side="left").astype(np.uint8)
    trees = []
    for _ in range(params.n_trees):
        boot = rng.integers(0, n, min(n, params.max_samples))
        trees.append(_grow_tree(codes[boot], y[boot], w[boot], pixels, params, rng))
    sizes = [len(t.left) for t in trees]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def cat(name, dtype):
        return np.concatenate([np.asarray(getattr(t, name), dtype) for t in trees])

    return ForestClassifier(
        classes_=np.array([0, 1], np.int64), n_features_=crop_size * crop_size,
        tree_offsets=offsets, children_left=cat("left", np.int64),
        children_right=cat("right", np.int64), feature=cat("feature", np.int64),
        threshold=cat("threshold", np.float64),
        value=np.concatenate([np.stack(t.value) for t in trees]).astype(np.float64),
        meta={k: str(v) for k, v in (meta or {}).items()})


def accuracy(forest: ForestClassifier, crops: np.ndarray, labels: np.ndarray,
             batch: int = 512) -> float:
    """Fraction of crops whose predicted class (argmax) equals ``labels``."""
    if not len(crops):
        return float("nan")
    k = int(np.flatnonzero(forest.classes_ == 1)[0])
    hits = 0
    for a in range(0, len(crops), batch):
        part = crops[a:a + batch]
        proba = forest.predict_proba(part.reshape(len(part), -1))
        hits += int(((proba[:, k] > 0.5).astype(int) == labels[a:a + batch]).sum())
    return hits / len(crops)


def train_flip_classifier(
    inputs: Iterable[str | Path],
    output_file: str | Path,
    *,
    labels_file: str | Path | None = None,
    min_confidence: float = 0.99,
    max_frames: int = 3000,
    holdout: float = 0.2,
    params: ForestParams | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainingReport:
    """Build a flip classifier from extracted sessions and write it as ``.npz``.

    Parameters
    ----------
    inputs : paths
        Extracted ``.h5`` files or folders holding them.
    output_file : path
        The ``.npz`` to write (use it with ``--flip-classifier``).
    labels_file : path, optional
        Hand labels (see the module docstring).
    min_confidence, max_frames, holdout : see :func:`collect_frames`
    params : ForestParams, optional
    seed : int
        Seed of every random choice.
    progress : callable(str), optional
        Receives short status messages.

    Returns
    -------
    TrainingReport

    Raises
    ------
    ExtractionError
        On unusable inputs (one-line message naming the file).
    """
    params = params or ForestParams()
    rng = np.random.default_rng(seed)
    say = progress or (lambda msg: None)
    files = find_session_files(inputs)
    hand = read_hand_labels(labels_file) if labels_file else None
    say(f"reading {len(files)} session(s)")
    data = collect_frames(files, hand_labels=hand, min_confidence=min_confidence,
                          max_frames=max_frames, holdout=holdout, rng=rng)
    train = ~data.holdout
    if not train.any():
        raise FlipClassifierError("every usable frame was held out; lower --holdout")
    c = data.crops.shape[1]
    east = data.crops[train]
    east = np.concatenate([east, jitter(east, rng)])
    pixels = candidate_pixels(c, params.pixel_stride)
    x, y = view_values(east, pixels)
    w = np.tile(data.weight[train], 8)
    say(f"growing {params.n_trees} trees on {int(train.sum())} frames x 8 views")
    meta = {"created_by": "moseq2-extract train-flip-classifier", "crop_size": c,
            "class_1": "crop faces west (head on the left); flip it",
            "n_sessions": len(files), "n_train_frames": int(train.sum()),
            "min_confidence": min_confidence, "seed": seed}
    forest = train_forest(x, y, w, pixels=pixels, crop_size=c, params=params, rng=rng,
                          meta=meta)
    hx, hy, _ = augment(data.crops[data.holdout], data.weight[data.holdout])
    acc = accuracy(forest, hx, hy)
    hand_acc = None
    held_hand = data.holdout & data.hand
    if held_hand.any():
        ax, ay, _ = augment(data.crops[held_hand], data.weight[held_hand])
        hand_acc = accuracy(forest, ax, ay)
    forest = ForestClassifier(**{**forest.__dict__, "meta": {
        **forest.meta, "holdout_accuracy": f"{acc:.4f}",
        "n_holdout_frames": str(int(data.holdout.sum()))}})
    out = save_flip_classifier(output_file, forest)
    return TrainingReport(output_file=out, n_sessions=len(files), n_train=int(train.sum()),
                          n_holdout=int(data.holdout.sum()), n_hand=int(data.hand.sum()),
                          holdout_accuracy=acc, hand_accuracy=hand_acc, crop_size=c)
