"""The one schema of parameters.

Every option of ``find-roi``, ``extract`` and ``batch-extract`` is declared once here as a
:class:`Param`: its config key (the original's name), default, type, help text and valid
values.  ``config.yaml`` (``generate-config``), the click options of the CLI, validation of
config files, and the h5 ``metadata/extraction/parameters`` group are all derived from this
table.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .camera import CAMERA_CHOICES
from .errors import ConfigError

# Option groups: which commands carry a parameter.
ROI = "roi"  # find-roi, extract, batch-extract
VIDEO = "video"  # extract, batch-extract (and convert/copy-slice)
EXTRACT = "extract"  # extract, batch-extract
BATCH = "batch"  # batch-extract only
ENGINE = "engine"  # this implementation's additions (extract, batch-extract)

# kinds
INT, FLOAT, BOOL, FLAG, STR = "int", "float", "bool", "flag", "str"
INT_PAIR, FLOAT_PAIR, FLOAT_TRIPLE, INT_LIST = "int2", "float2", "float3", "intlist"
OPT_STR, OPT_INT, STR_LIST = "optstr", "optint", "strlist"


@dataclass(frozen=True)
class Param:
    """Declaration of one parameter.

    Attributes
    ----------
    key : str
        Config-file key (identical to the original's), also the h5 parameter name.
    default : Any
        Default value (tuples for fixed-length sequences, lists for ``multiple`` options).
    kind : str
        One of the kind constants above; decides parsing, validation and the click type.
    help : str
        Help text; also the ``description`` attribute in the h5 ``parameters`` group.
    group : str
        Which commands expose it.
    short : str, optional
        Short flag, e.g. ``"-b"``.
    choices : tuple, optional
        Allowed values.
    minimum, maximum : float, optional
        Inclusive numeric bounds (each element for sequences).
    odd : bool
        Values must be odd (or 0 = off) -- median filter windows.
    no_effect : str, optional
        If set, the option is accepted and recorded but does nothing here; the text says why.
    """

    key: str
    default: Any
    kind: str
    help: str
    group: str = EXTRACT
    short: str | None = None
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    odd: bool = False
    no_effect: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def full_help(self) -> str:
        if self.no_effect:
            return f"{self.help} [no effect: {self.no_effect}]"
        return self.help

    @property
    def valid(self) -> str:
        """The values accepted, in words (``"an integer >= 0, odd (0 = off)"``)."""
        text = _KIND_WORDS[self.kind]
        each = " each" if self.kind in _SEQUENCES else ""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        if bounds:
            text += each + " " + " and ".join(bounds)
        if self.odd:
            text += ", odd (0 = off)"
        if self.kind in (OPT_STR, OPT_INT):
            text += ", or null"
        return text

    @property
    def help_text(self) -> str:
        """What ``--help`` and the comments of ``config.yaml`` say about the parameter:
        its help, then the values accepted."""
        if self.kind in (STR, OPT_STR) and self.choices is None:
            return self.full_help  # any text
        return f"{self.full_help} [valid: {self.valid}]"

    @property
    def stage(self) -> str:
        """The stage of the extraction the parameter belongs to (a title of
        :data:`STAGES`), under which ``--help`` lists it."""
        return _STAGE_OF[self.key]


_KIND_WORDS = {
    INT: "an integer", FLOAT: "a number", BOOL: "true or false", FLAG: "true or false",
    STR: "text", OPT_STR: "text", OPT_INT: "an integer",
    INT_PAIR: "2 integers", FLOAT_PAIR: "2 numbers", FLOAT_TRIPLE: "3 numbers",
    INT_LIST: "a list of integers", STR_LIST: "a list of text",
}
_SEQUENCES = (INT_PAIR, FLOAT_PAIR, FLOAT_TRIPLE, INT_LIST)


def P(default: Any, kind: str, help: str, group: str = EXTRACT, short: str | None = None,
      *, choices: tuple | None = None, minimum: float | None = None,
      maximum: float | None = None, odd: bool = False, no_effect: str | None = None) -> Any:
    """A :class:`Config` field that is a parameter (its schema in the field's metadata)."""
    schema = Param("", default, kind, help, group, short, choices, minimum, maximum, odd,
                   no_effect)
    if isinstance(default, list):
        return field(default_factory=functools.partial(list, default),
                     metadata={"param": schema})
    return field(default=default, metadata={"param": schema})


def X(default: Any, kind: str | None = None) -> Any:
    """A :class:`Config` field for a key honoured in config files but not an option: kept
    as given, or validated as ``kind`` when one is named."""
    schema = None if kind is None else Param("", default, kind, "", EXTRACT)
    return field(default=default, metadata={"extra": True, "kind": schema})


@dataclass(frozen=True, eq=False)
class Config(Mapping[str, Any]):
    """Validated parameters of one run: typed, read-only, also readable as a mapping.

    Every field is declared once here with its schema (:func:`P`: kind, help text, group,
    bounds), from which the CLI options, ``config.yaml`` and the h5 ``parameters`` group
    are generated.  Build it with :func:`make_config` (unknown keys are errors with a
    did-you-mean hint) or directly (``Config(chunk_size=100)``); values are validated and
    brought to their declared types either way.  The trailing fields (:func:`X`) are the
    honoured non-option keys (``frame_stride``, ``iters``, ...), kept as given.
    """

    # ---- ROI / background options (find-roi, extract, batch-extract) ----
    progress_bar: bool = P(False, FLAG,
        "Draw progress bars also when the output is not a terminal (a log file, a pipe, a "
        "SLURM job); on a terminal they are always drawn", ROI, "-p")
    config_file: str | None = P(None, OPT_STR,
        "Path to a config.yaml whose values are used as defaults", ROI)
    recompute_bg: bool = P(False, BOOL,
        "Recompute the background even if proc/bground.tiff already exists", ROI)
    use_plane_bground: bool = P(False, FLAG,
        "Replace the background with the fitted floor plane", ROI)
    output_dir: str = P("proc", STR,
        "Output directory, relative to the input file's directory unless it exists", ROI)
    noise_tolerance: int = P(30, INT,
        "Distance (mm) from the floor plane within which pixels count as floor", ROI, minimum=0)
    erode_iterations: int = P(0, INT, "Erosion iterations applied to the ROI", ROI, minimum=0)
    bg_roi_erode: tuple[int, int] = P((1, 1), INT_PAIR, "Size of the ROI erosion kernel (px)", ROI,
        minimum=1)
    dilate_iterations: int = P(1, INT, "Dilation iterations applied to the ROI", ROI, minimum=0)
    bg_sort_roi_by_position_max_rois: int = P(2, INT,
        "With sort-by-position: number of best-ranked ROIs kept before sorting", ROI, minimum=1)
    bg_sort_roi_by_position: bool = P(False, BOOL,
        "Order the kept ROIs top-to-bottom by position instead of by rank", ROI)
    bg_roi_fill_holes: bool = P(True, BOOL, "Fill holes in the ROI", ROI)
    bg_roi_gradient_kernel: int = P(7, INT, "Sobel kernel size of the wall-gradient filter", ROI,
        choices=(1, 3, 5, 7))
    bg_roi_gradient_threshold: float = P(3000.0, FLOAT,
        "Pixels whose background gradient exceeds this are excluded from the floor", ROI,
        minimum=0)
    bg_roi_gradient_filter: bool = P(False, BOOL,
        "Exclude steep background gradients (walls) from the floor search", ROI)
    bg_roi_depth_range: tuple[float, float] = P((650.0, 750.0), FLOAT_PAIR,
        "Depth range (mm) in which the floor is searched; replaced automatically unless "
        "--manual-set-depth-range", ROI, minimum=0)
    manual_set_depth_range: bool = P(False, FLAG,
        "Use --bg-roi-depth-range as given instead of detecting it", ROI)
    camera_type: str = P("auto", STR,
        "Camera preset (auto detects from the file): sets ROI weights, pixel format, dtype and "
        "intrinsics", ROI, choices=CAMERA_CHOICES)
    bg_roi_weights: tuple[float, float, float] = P((1.0, 0.1, 1.0), FLOAT_TRIPLE,
        "Weights of (area, extent, distance to centre) when ranking candidate ROIs "
        "(the camera preset overrides this)", ROI, minimum=0)
    bg_roi_index: int = P(0, INT, "Index of the ranked ROI to use (also names results_XX)", ROI,
        minimum=0)
    bg_roi_shape: str = P("ellipse", STR, "Shape of the ROI dilation/erosion kernels", ROI,
        choices=("ellipse", "rectangle"))
    bg_roi_dilate: tuple[int, int] = P((10, 10), INT_PAIR, "Size of the ROI dilation kernel (px)",
        ROI, minimum=1)
    # ---- video options (extract, batch-extract) ----
    mapping: str = P("DEPTH", STR, "Video stream to read: a stream title or an index", VIDEO, "-m")
    threads: int = P(8, INT, "Video decoding threads", VIDEO, minimum=0)
    delete: bool = P(False, FLAG, "Delete the raw file after a verified compression", VIDEO,
        no_effect="only used by convert-raw-to-avi / copy-slice")
    fps: float = P(30.0, FLOAT, "Frame rate of the recording (frames/s)", VIDEO, minimum=1e-3)
    chunk_size: int = P(3000, INT, "Frames processed per chunk", VIDEO, "-b", minimum=1)
    output_file: str | None = P(None, OPT_STR, "Output file", VIDEO, "-o",
        no_effect="unused by extract")
    # ---- extraction options ----
    cluster_type: str = P("local", STR, "Where batch-extract runs sessions", EXTRACT,
        choices=("local", "slurm"))
    skip_completed: bool = P(False, FLAG, "Skip sessions whose results_XX.yaml says complete",
        EXTRACT)
    compress_threads: int = P(3, INT, "Threads for the post-extraction .dat to .avi compression",
        EXTRACT, minimum=0)
    compress_chunk_size: int = P(3000, INT,
        "Chunk size for the post-extraction .dat to .avi compression", EXTRACT, minimum=1)
    compress: bool = P(False, BOOL, "Compress a .dat session to a lossless .avi after extraction",
        EXTRACT)
    frame_trim: tuple[int, int] = P((0, 0), INT_PAIR, "Frames to drop at the start and at the end",
        EXTRACT, minimum=0)
    model_smoothing_clips: tuple[float, float] = P((0.0, 0.0), FLOAT_PAIR,
        "Log-likelihood clip range of the tracking-model smoother; (0, 0) disables it",
        EXTRACT)
    angle_hampel_sig: float = P(3.0, FLOAT, "Hampel filter threshold (MADs) for the orientation",
        EXTRACT, minimum=0)
    angle_hampel_span: int = P(0, INT, "Hampel filter window for the orientation (0 = off)",
        EXTRACT, minimum=0, odd=True)
    centroid_hampel_sig: float = P(3.0, FLOAT, "Hampel filter threshold (MADs) for the centroid",
        EXTRACT, minimum=0)
    centroid_hampel_span: int = P(0, INT, "Hampel filter window for the centroid (0 = off)",
        EXTRACT, minimum=0, odd=True)
    pixel_format: str = P("gray16le", STR, "Pixel format of 16-bit depth video (preset overrides)",
        EXTRACT, choices=("gray16le", "gray16be"))
    movie_dtype: str = P("<i2", STR, "numpy dtype of raw frames (preset overrides)", EXTRACT)
    frame_dtype: str = P("uint8", STR, "dtype of the stored crops (frames dataset)", EXTRACT,
        choices=("uint8", "uint16"))
    write_movie: bool = P(True, BOOL, "Write the preview movie results_XX.mp4", EXTRACT)
    chunk_overlap: int = P(0, INT, "Frames shared by consecutive chunks", EXTRACT, minimum=0)
    temporal_filter_size: list[int] = P([0], INT_LIST,
        "Temporal median filter window(s) in frames (0 = off)", EXTRACT, "-t", minimum=0,
        odd=True)
    spatial_filter_size: list[int] = P([3], INT_LIST,
        "Spatial median filter kernel(s) in px (0 = off)", EXTRACT, "-s", minimum=0, odd=True)
    tail_filter_shape: str = P("ellipse", STR, "Shape of the tail-removal opening kernel", EXTRACT,
        choices=("ellipse", "rectangle"))
    tail_filter_size: tuple[int, int] = P((9, 9), INT_PAIR,
        "Size of the tail-removal opening kernel (px)", EXTRACT, minimum=1)
    tail_filter_iters: int = P(1, INT, "Iterations of the tail-removal opening (0 = off)", EXTRACT,
        minimum=0)
    cable_filter_size: tuple[int, int] = P((5, 5), INT_PAIR,
        "Size of the cable-removal erosion kernel (px)", EXTRACT, minimum=1)
    cable_filter_shape: str = P("rectangle", STR, "Shape of the cable-removal erosion kernel",
        EXTRACT, choices=("ellipse", "rectangle"))
    cable_filter_iters: int = P(0, INT, "Iterations of the cable-removal erosion (0 = off)",
        EXTRACT, minimum=0)
    tracking_model_init: str = P("raw", STR,
        "Initialisation of the cable tracking model: the first frame, or the pixel-wise "
        "minimum or median of the first 10", EXTRACT, choices=("raw", "min", "med"))
    tracking_model_segment: bool = P(True, BOOL,
        "Tracking model: fit only the largest region of likely pixels", EXTRACT)
    tracking_model_ll_clip: float = P(-100.0, FLOAT,
        "Tracking model: floor of the stored log-likelihood masks (frames_mask)", EXTRACT)
    tracking_model_mask_threshold: float = P(-16.0, FLOAT,
        "Tracking model: log-likelihood threshold of the mask", EXTRACT,
        no_effect="as in 1.4.0, the tracker's mask uses the config key mask_threshold (-20)")
    tracking_model_ll_threshold: float = P(-100.0, FLOAT,
        "Tracking model: log-likelihood threshold of the segmentation", EXTRACT)
    use_tracking_model: bool = P(False, BOOL,
        "Follow the mouse with the EM tracker (a 3-D Gaussian over x, y, height); "
        "frames_mask then holds its log-likelihood crops (float32)", EXTRACT)
    use_cc: bool = P(True, BOOL, "Keep only the mouse's connected component in the mask", EXTRACT)
    widen_radius: int = P(0, INT, "Graduated walls: radius adjustment (px)", EXTRACT,
        no_effect="graduated walls are not implemented in this version")
    graduate_walls: bool = P(False, BOOL, "Model sloped bucket walls in the background", EXTRACT,
        no_effect="graduated walls are not implemented in this version")
    flip_classifier_smoothing: int = P(51, INT,
        "Median window (frames) over flip-classifier probabilities", EXTRACT, minimum=1,
        odd=True)
    flip_classifier: str | None = P(None, OPT_STR,
        "Flip classifier (.npz, or legacy .pkl); without one the heading is resolved "
        "without training", EXTRACT)
    compute_raw_scalars: bool = P(False, FLAG,
        "Compute scalars from the unfiltered instead of the filtered crops", EXTRACT)
    detected_true_depth: str = P("auto", STR,
        "Floor depth (mm): 'auto' = median background in the ROI, else a number", EXTRACT)
    max_height: int = P(120, INT, "Heights above this (mm) are ignored", EXTRACT, minimum=0)
    min_height: int = P(10, INT, "Heights below this (mm) are ignored", EXTRACT, minimum=0)
    num_frames: int | None = P(None, OPT_INT, "Extract only the first N frames (all if unset)",
        EXTRACT, "-n", minimum=1)
    crop_size: tuple[int, int] = P((80, 80), INT_PAIR, "Size of the egocentric crop (px, square)",
        EXTRACT, "-c", minimum=8)
    # ---- this implementation ----
    workers: int = P(0, INT, "Worker processes for per-frame work and the preview (0 = all "
        "cores; 1 = no worker processes)", ENGINE, minimum=0)
    seed: int = P(0, INT, "Seed of the random floor-plane search (RANSAC)", ENGINE, minimum=0)
    resume: bool = P(True, BOOL,
        "Continue an interrupted extraction (Ctrl-C, killed, node lost) from its last saved "
        "block when the input and parameters are unchanged; false always starts afresh",
        ENGINE)
    fill_dropouts: bool = P(True, BOOL,
        "Treat pixels without depth on the mouse as missing data (filled from their "
        "neighbours), not as floor", ENGINE)
    ignore_intrusions: bool = P(True, BOOL,
        "Ignore an arm reaching into the arena (far taller than max_height) and the hand at "
        "its tip; flag those frames", ENGINE)
    remove_thin_structures: bool = P(True, BOOL, "Cut thin structures attached to the mouse "
        "(a tether, a patch cord) off it before its position and axis are measured", ENGINE)
    choose_by_continuity: bool = P(True, BOOL, "When a second mouse-sized blob is in view "
        "(an object larger than the mouse), take the one that continues the mouse's track "
        "(position, size, height), not the largest", ENGINE)
    # ---- batch-extract only ----
    extensions: list[str] = P([".dat", ".avi", ".mkv"], STR_LIST,
        "Depth-file extensions to search for, several after one --extensions (e.g. "
        "--extensions .dat .avi); session_<digits>.tar.gz/.tgz archives are always "
        "included. A folder holding depth.dat and its converted depth.avi is one session: "
        "the extension listed first is used", BATCH)
    skip_checks: bool = P(False, FLAG,
        "Include sessions even if complete or lacking metadata.json", BATCH)
    extract_out_script: str = P("extract_out.sh", STR,
        "SLURM: file (in the input folder) that receives the submission commands", BATCH)
    prefix: str = P("", STR, "SLURM: command run before moseq2-extract (e.g. env activation)",
        BATCH)
    ncpus: int = P(1, INT, "SLURM: cores per job", BATCH, minimum=0)
    memory: str = P("5GB", STR, "SLURM: memory per job", BATCH)
    wall_time: str = P("3:00:00", STR, "SLURM: wall time per job", BATCH)
    partition: str = P("short", STR, "SLURM: partition", BATCH)
    get_cmd: bool = P(True, FLAG, "Print the list of commands", BATCH)
    run_cmd: bool = P(False, FLAG, "Submit the commands", BATCH)
    scheduler_address: str | None = P(None, OPT_STR, "Attach to a running Dask scheduler", BATCH)
    local_workers: int = P(0, INT, "Sessions run at once on the local cluster (0 = auto)", BATCH,
        minimum=0)
    slurm_submit: str = P("dask", STR,
        "SLURM: 'dask' runs the sessions as dask-jobqueue jobs and waits for them; 'script' "
        "writes sbatch commands to --extract-out-script (submitted with --run-cmd)", BATCH,
        choices=("dask", "script"))
    job_extra_directives: list[str] = P([], STR_LIST,
        "SLURM: extra #SBATCH directives per job, e.g. --job-extra-directives=--qos=long",
        BATCH)
    slurm_jobs: int = P(0, INT, "SLURM (dask): jobs requested at once (0 = one per session)",
        BATCH, minimum=0)
    slurm_log_directory: str | None = P(None, OPT_STR,
        "SLURM (dask): folder for the jobs' log files", BATCH)
    # ---- keys honoured in config files although they are not options (spec 2) ----
    session_config_path: Any = X(None)
    frame_stride: int = X(500, INT)
    med_scale: int = X(5, INT)
    iters: int = X(1000, INT)
    in_ratio: float = X(0.1, FLOAT)
    mask_threshold: Any = X(-20)
    iters_min: Any = X(0)
    tracking_ll_threshold: Any = X(-100)
    rho_mean: Any = X(0)
    rho_cov: Any = X(0)
    x_bg_offset: Any = X(-2)
    y_bg_offset: Any = X(2)
    bg_threshold: Any = X(None)
    floor_slant: Any = X(False)
    finfo: Any = X(None)
    true_depth: Any = X(None)
    timestamps: Any = X(None)
    tar: Any = X(None)

    def __post_init__(self) -> None:
        for name, param in _VALIDATED.items():
            object.__setattr__(self, name, coerce(param, getattr(self, name)))
        lo, hi = self.bg_roi_depth_range
        if lo >= hi:
            raise ConfigError(f"bg_roi_depth_range: lower bound must be below upper, "
                              f"got {self.bg_roi_depth_range}")
        if self.min_height >= self.max_height:
            raise ConfigError(f"min_height ({self.min_height}) must be below "
                              f"max_height ({self.max_height})")
        if self.crop_size[0] != self.crop_size[1]:
            raise ConfigError(f"crop_size must be square, got {self.crop_size}")

    # -- mapping access (config files, the h5 parameters, code written for dicts) --------
    def __getitem__(self, key: str) -> Any:
        if key not in _FIELD_INDEX:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(KEYS)

    def __len__(self) -> int:
        return len(KEYS)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` validated and applied."""
        return make_config({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Every key and value, in declaration order."""
        return {key: getattr(self, key) for key in KEYS}


#: Every key of a :class:`Config`, in declaration order (parameters, then extras).
KEYS: tuple[str, ...] = tuple(f.name for f in fields(Config))
_FIELD_INDEX = frozenset(KEYS)

#: The parameter schema, in declaration order (the key is the field's name).
PARAMS: tuple[Param, ...] = tuple(
    replace(f.metadata["param"], key=f.name) for f in fields(Config) if "param" in f.metadata)

PARAM_BY_KEY: dict[str, Param] = {p.key: p for p in PARAMS}

# Stages of the work, in the order ``--help`` lists them (titles of its option groups).
INPUT_STAGE, ROI_STAGE, EXTRACTION_STAGE = "Input", "ROI and background", "Extraction"
TRACKING_STAGE, HEADING_STAGE, OUTPUT_STAGE = "Tracking", "Heading", "Output"
PERFORMANCE_STAGE, BATCH_STAGE = "Performance", "Batch and cluster"
GENERAL_STAGE = "General"  # messages and progress bars (and --help)

#: Stage title -> the parameters listed under it.
STAGES: dict[str, tuple[str, ...]] = {
    INPUT_STAGE: ("config_file", "mapping", "fps", "num_frames", "frame_trim", "camera_type",
                  "pixel_format", "movie_dtype"),
    ROI_STAGE: ("recompute_bg", "use_plane_bground", "noise_tolerance", "erode_iterations",
                "bg_roi_erode", "dilate_iterations", "bg_sort_roi_by_position_max_rois",
                "bg_sort_roi_by_position", "bg_roi_fill_holes", "bg_roi_gradient_kernel",
                "bg_roi_gradient_threshold", "bg_roi_gradient_filter", "bg_roi_depth_range",
                "manual_set_depth_range", "bg_roi_weights", "bg_roi_index", "bg_roi_shape",
                "bg_roi_dilate", "seed", "detected_true_depth", "widen_radius",
                "graduate_walls"),
    EXTRACTION_STAGE: ("spatial_filter_size", "temporal_filter_size", "tail_filter_shape",
                       "tail_filter_size", "tail_filter_iters", "cable_filter_size",
                       "cable_filter_shape", "cable_filter_iters", "max_height", "min_height",
                       "crop_size", "use_cc", "compute_raw_scalars", "fill_dropouts",
                       "ignore_intrusions", "remove_thin_structures"),
    TRACKING_STAGE: ("use_tracking_model", "tracking_model_init", "tracking_model_segment",
                     "tracking_model_ll_clip", "tracking_model_mask_threshold",
                     "tracking_model_ll_threshold", "model_smoothing_clips",
                     "angle_hampel_sig", "angle_hampel_span", "centroid_hampel_sig",
                     "centroid_hampel_span", "choose_by_continuity"),
    HEADING_STAGE: ("flip_classifier", "flip_classifier_smoothing"),
    OUTPUT_STAGE: ("output_dir", "output_file", "frame_dtype", "write_movie", "skip_completed",
                   "compress", "compress_threads", "compress_chunk_size", "delete", "resume"),
    PERFORMANCE_STAGE: ("chunk_size", "chunk_overlap", "threads", "workers"),
    BATCH_STAGE: ("cluster_type", "extensions", "skip_checks", "local_workers",
                  "scheduler_address", "extract_out_script", "prefix", "ncpus", "memory",
                  "wall_time", "partition", "get_cmd", "run_cmd", "slurm_submit",
                  "job_extra_directives", "slurm_jobs", "slurm_log_directory"),
    GENERAL_STAGE: ("progress_bar",),
}
_STAGE_OF: dict[str, str] = {key: stage for stage, keys in STAGES.items() for key in keys}
if set(_STAGE_OF) != set(PARAM_BY_KEY):  # pragma: no cover - guards the table
    raise AssertionError("list every parameter under one stage of config.STAGES (its group "
                         f"in --help): {sorted(set(PARAM_BY_KEY) ^ set(_STAGE_OF))}")

# Keys honoured in config files although they are not CLI options (spec section 2).
EXTRA_KEYS: dict[str, Any] = {f.name: f.default for f in fields(Config) if "extra" in f.metadata}

# what Config.__post_init__ validates: every parameter, and the extras with a kind
_VALIDATED: dict[str, Param] = {
    **PARAM_BY_KEY,
    **{f.name: replace(f.metadata["kind"], key=f.name) for f in fields(Config)
       if f.metadata.get("kind") is not None}}

AZURE_OVERRIDES: dict[str, Any] = {
    "bg_roi_depth_range": (550.0, 650.0),
    "spatial_filter_size": [5],
    "tail_filter_size": (15, 15),
    "crop_size": (120, 120),
    "camera_type": "azure",
}


def params_for(*groups: str) -> tuple[Param, ...]:
    """The parameters belonging to any of ``groups``, in declaration order."""
    return tuple(p for p in PARAMS if p.group in groups)


EXTRACT_GROUPS = (ROI, VIDEO, EXTRACT, ENGINE)


def _fail(param: Param, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{param.key}: expected {expected}, got {value!r}")


def _as_number(param: Param, value: Any, integer: bool) -> int | float:
    if isinstance(value, bool):
        raise _fail(param, value, "a number")
    try:
        if integer:
            f = float(value)
            if not f.is_integer():
                raise ValueError
            number: int | float = int(f)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
    except (TypeError, ValueError):
        raise _fail(param, value, "an integer" if integer else "a finite number") from None
    if param.minimum is not None and number < param.minimum:
        raise _fail(param, value, f"a value >= {param.minimum:g}")
    if param.maximum is not None and number > param.maximum:
        raise _fail(param, value, f"a value <= {param.maximum:g}")
    if param.odd and integer and number != 0 and number % 2 == 0:
        raise _fail(param, value, "an odd number (or 0 = off)")
    return number


def _as_bool(param: Param, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no",
                                                          "1", "0", "on", "off"}:
        return value.strip().lower() in {"true", "yes", "1", "on"}
    raise _fail(param, value, "true or false")


def _as_sequence(param: Param, value: Any) -> list:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Iterable):
        raise _fail(param, value, "a list")
    return list(value)


def coerce(param: Param, value: Any) -> Any:
    """Validate ``value`` for ``param`` and return it in canonical form.

    Raises
    ------
    ConfigError
        With a one-line message naming the key, the expectation and the received value.
    """
    kind = param.kind
    if value is None:
        if kind in (OPT_STR, OPT_INT):
            return None
        raise _fail(param, value, "a value")
    if kind == INT:
        out: Any = _as_number(param, value, True)
    elif kind == FLOAT:
        out = _as_number(param, value, False)
    elif kind in (BOOL, FLAG):
        out = _as_bool(param, value)
    elif kind in (STR, OPT_STR):
        if isinstance(value, (dict, list, tuple)):
            raise _fail(param, value, "text")
        out = str(value)
    elif kind == OPT_INT:
        out = _as_number(param, value, True)
    elif kind in (INT_PAIR, FLOAT_PAIR, FLOAT_TRIPLE):
        items = _as_sequence(param, value)
        n = 3 if kind == FLOAT_TRIPLE else 2
        if len(items) != n:
            raise _fail(param, value, f"{n} numbers")
        out = tuple(_as_number(param, v, kind == INT_PAIR) for v in items)
    elif kind == INT_LIST:
        items = _as_sequence(param, value)
        if not items:
            raise _fail(param, value, "at least one integer")
        out = [_as_number(param, v, True) for v in items]
    elif kind == STR_LIST:
        out = [str(v) for v in _as_sequence(param, value)]
    else:  # pragma: no cover - the table above is the only source of kinds
        raise AssertionError(kind)
    if param.choices is not None:
        check = out if kind != STR else out.lower()
        if param.key in ("bg_roi_shape", "tail_filter_shape", "cable_filter_shape"):
            # the original only looks at the first letter
            check = "rectangle" if str(out).lower().startswith("r") else "ellipse"
            out = check
        if check not in param.choices:
            raise _fail(param, value, "one of " + ", ".join(map(str, param.choices)))
    return out


def suggest(key: str, known: Iterable[str]) -> str:
    """A ``did you mean`` hint for an unknown key ("" when nothing is close)."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def defaults(groups: Iterable[str] | None = None) -> dict[str, Any]:
    """Default value of every parameter (of ``groups``) plus the honoured extra keys."""
    params = PARAMS if groups is None else params_for(*groups)
    values = {p.key: (list(p.default) if isinstance(p.default, list) else p.default)
              for p in params}
    if groups is None:
        values.update(EXTRA_KEYS)
    return values


def make_config(values: Mapping[str, Any] | None = None, *, source: str = "config") -> Config:
    """Validate ``values`` over the defaults.

    Parameters
    ----------
    values : mapping
        Parameter values by config key; unspecified keys take their defaults.
    source : str
        Name used in error messages (e.g. the config file path).

    Raises
    ------
    ConfigError
        ``<source>: <key>: expected ..., got ...``; an unknown key gets a did-you-mean hint.
    """
    values = dict(values or {})
    for key in values:
        if key not in _FIELD_INDEX:
            hint = suggest(key, KEYS)
            raise ConfigError(f"{source}: unknown parameter {key!r}{hint}")
    try:
        return Config(**values)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a config YAML (anchors and aliases allowed) into a plain dict.

    Raises
    ------
    ConfigError
        If the file is missing, is not YAML, or is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
    return data


def generate_config_dict(camera_type: str = "k2") -> dict[str, Any]:
    """Content of ``config.yaml`` written by ``generate-config`` (all extract options)."""
    values = defaults(EXTRACT_GROUPS)
    if camera_type == "azure":
        values.update(AZURE_OVERRIDES)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(values.items())}


def config_file_text(camera_type: str = "k2") -> str:
    """The text of ``config.yaml`` written by ``generate-config``: every key of
    :func:`generate_config_dict`, each under a comment holding its help and valid values
    (the text ``--help`` shows).  ``yaml.safe_load`` of it gives
    :func:`generate_config_dict` exactly (comments are not data)."""
    import textwrap

    values = generate_config_dict(camera_type)
    lines = ["# moseq2-extract config.yaml: every extraction parameter with its default.",
             "# Edit the values; each comment says what a key does and what it accepts.",
             "# Use it with: moseq2-extract extract --config-file config.yaml INPUT_FILE",
             ""]
    for line in (dump_yaml(values) or "").splitlines():
        key = line.split(":", 1)[0]
        if not line[:1].isspace() and key in values:  # a top-level key, not a wrapped value
            lines += textwrap.wrap(PARAM_BY_KEY[key].help_text, width=88, initial_indent="# ",
                                   subsequent_indent="#   ", break_on_hyphens=False)
        lines.append(line)
    return "\n".join(lines) + "\n"


def dump_yaml(data: Mapping[str, Any], stream=None) -> str | None:
    """Dump like the original (sorted keys, flow-style lists) with plain Python types."""
    return yaml.safe_dump(_plain(data), stream, sort_keys=True, default_flow_style=None,
                          width=82, allow_unicode=False)


def _plain(value: Any) -> Any:
    """Convert tuples/numpy values into YAML-safe builtins."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def parameter_snapshot(config: Config) -> dict[str, Any]:
    """What is recorded as ``parameters`` in the yaml and h5 (the effective values)."""
    skip = {"finfo", "timestamps", "tar", "true_depth"}
    out = {}
    for key, value in config.items():
        if key in skip or (key in EXTRA_KEYS and key not in PARAM_BY_KEY and value is None):
            continue
        out[key] = _plain(value)
    return out
