"""``moseq2_extract.helpers.extract``: the chunk loop and its pieces, and running many
sessions locally or on SLURM (spec 6.2).

The results dict of one chunk uses the original's keys: ``chunk`` (heights over the ROI
box, (n, h, w)), ``depth_frames`` (egocentric crops, (n, c, c)), ``mask_frames``
((n, c, c)), ``scalars`` (name -> (n,)), ``flips`` ((n,) bool or None) and
``frame_index`` ((n,) absolute video frame indices; added here).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..batch.discovery import describe_session
from ..batch.jobs import ExtractJob, JobResult, plan_jobs, write_sbatch_script
from ..batch.runners import InProcessRunner, SlurmDaskRunner
from ..config import read_config_file
from ..extract.em_post import clip_ll_crops
from ..extract.results import SCALAR_NAMES, ChunkResult
from .data import config_from_dict

logger = logging.getLogger(__name__)

__all__ = [
    "make_output_movie",
    "process_extract_batches",
    "run_local_extract",
    "run_slurm_extract",
    "set_tracking_model_parameters",
    "write_extracted_chunk_to_h5",
]


def write_extracted_chunk_to_h5(h5_file: h5py.File, results: Mapping[str, Any],
                                config_data: Mapping[str, Any], scalars: Iterable[str],
                                frame_range: Iterable[int], offset: int) -> None:
    """Write one chunk's results into a file made by ``create_extract_h5``.

    ``results[...][offset:]`` go to the rows of ``frame_range[offset:]`` counted from the
    file's ``first_frame_idx`` (the original wrote at absolute indices, which overflowed
    with a trimmed start, spec 7.1 item 6): ``frames``, ``frames_mask``, each
    ``scalars/<name>`` and, when the file has the dataset (``create_extract_h5`` makes it
    when ``config_data['flip_classifier']`` is set), ``metadata/extraction/flips``.
    """
    indices = np.asarray(list(frame_range), dtype=np.int64)[offset:]
    if len(indices) == 0:
        return
    first = 0
    if "metadata/extraction/first_frame_idx" in h5_file:
        first = int(h5_file["metadata/extraction/first_frame_idx"][0])
    rows = indices - first
    a, b = int(rows[0]), int(rows[-1]) + 1
    contiguous = b - a == len(rows)
    target: Any = slice(a, b) if contiguous else rows

    def put(name: str, values: Any) -> None:
        h5_file[name][target] = np.asarray(values)[offset:]

    for name in scalars:
        put(f"scalars/{name}", results["scalars"][name])
    put("frames", results["depth_frames"])
    put("frames_mask", results["mask_frames"])
    flips = results.get("flips")
    if flips is not None and "metadata/extraction/flips" in h5_file:
        put("metadata/extraction/flips", flips)


def set_tracking_model_parameters(results: dict[str, Any], min_height: float,
                                  tracking_model_ll_clip: float, chunk_overlap: int,
                                  **kwargs: Any) -> tuple[dict[str, Any], Any, Any]:
    """Post-process the EM tracker's log-likelihood masks of a chunk (spec 4.17).

    Mask values where the crop is below ``min_height`` are set to
    ``tracking_model_ll_clip`` and every value below the clip is raised to it
    (:func:`moseq2_extract.extract.em_post.clip_ll_crops`; float32).  The EM state handed
    to the next chunk is ``results['parameters']['mean'/'cov']`` at index
    ``-(chunk_overlap + 1)``.  Without tracking-model parameters (``parameters`` None: the
    tracker was off, boolean masks) the masks are left alone and the state is None.

    Returns
    -------
    (results, init_mean, init_cov)
    """
    params = results.get("parameters")
    if not params:
        return results, None, None
    results["mask_frames"] = clip_ll_crops(results["mask_frames"], results["depth_frames"],
                                           min_height=min_height,
                                           ll_clip=tracking_model_ll_clip)
    index = -(int(chunk_overlap) + 1)
    return results, params["mean"][index], params["cov"][index]


def make_output_movie(results: Mapping[str, Any], config_data: Mapping[str, Any],
                      offset: int = 0) -> np.ndarray:
    """Preview frames of one chunk (spec 4.18): the crop at the top-left, the ROI-box
    heights at the bottom-right, coloured with jet over ``min_height..max_height``, the
    frame number written on each.

    Returns
    -------
    ndarray, (n - offset, H, W, 3) uint8
    """
    from ..output.movie import compose_preview

    crops = np.asarray(results["depth_frames"])[offset:]
    box = np.asarray(results["chunk"])[offset:]
    index = results.get("frame_index")
    index = np.arange(len(crops)) + offset if index is None else np.asarray(index)[offset:]
    return compose_preview(crops, box, index, min_height=float(config_data.get("min_height", 10)),
                           max_height=float(config_data.get("max_height", 120)))


def _results_dict(res: ChunkResult) -> dict[str, Any]:
    return {"chunk": res.box, "depth_frames": res.frames, "mask_frames": res.masks,
            "scalars": res.scalars, "flips": res.flips, "parameters": None,
            "frame_index": res.frame_index}


def process_extract_batches(input_file: str | os.PathLike, config_data: Mapping[str, Any],
                            bground_im: np.ndarray, roi: np.ndarray,
                            frame_batches: Iterable[Sequence[int]], str_els: Mapping[str, Any],
                            output_mov_path: str | os.PathLike | None,
                            scalars: Iterable[str] | None = None,
                            h5_file: h5py.File | None = None, video_pipe: Any = None,
                            **kwargs: Any) -> Any:
    """Run the chunk loop over ``frame_batches`` and write h5 rows and preview frames.

    Parameters
    ----------
    input_file : path-like
        Depth recording.
    config_data : mapping
        Parameters; ``true_depth`` (floor depth in mm) is used when present.
    bground_im : ndarray, (H, W)
        Background (mm).
    roi : ndarray, (H, W) bool
        Arena mask.
    frame_batches : iterable of ranges
        Consecutive frame ranges (e.g. from ``chunk_ranges``); the heading and velocities
        carry across them, so results do not depend on the batching.
    str_els : mapping
        Structuring elements; ``strel_tail`` and ``strel_min`` override the config's.
    output_mov_path : path-like or None
        Preview movie to write (when ``video_pipe`` is None).
    scalars : iterable of str, optional
        Scalar names to write (default: all 17).
    h5_file : h5py.File, optional
        File made by ``create_extract_h5``; nothing is written to h5 when None.
    video_pipe : PreviewWriter, optional
        An open preview writer to use (and close).

    Returns
    -------
    None
    """
    from ..camera import detect_camera
    from ..extract.chunk import ChunkParams
    from ..heading.classifier import load_flip_model
    from ..io.video import open_depth_video
    from ..output.movie import PreviewWriter
    from ..pipeline.blocks import BlockExtractor
    from ..pipeline.sequence import assembler_for
    from ..roi.roi import roi_bbox, true_depth_of

    config = config_from_dict(config_data)
    scalars = list(scalars) if scalars is not None else list(SCALAR_NAMES)
    params = ChunkParams.from_config(config)
    changes: dict[str, Any] = {}
    if str_els.get("strel_tail") is not None:
        changes["strel_tail"] = np.asarray(str_els["strel_tail"], dtype=np.uint8)
    if str_els.get("strel_min") is not None:
        changes["strel_cable"] = np.asarray(str_els["strel_min"], dtype=np.uint8)
    params = dataclasses.replace(params, **changes)
    roi = np.asarray(roi).astype(bool)
    background = np.asarray(bground_im, dtype=np.float32)
    y0, y1, x0, x1 = roi_bbox(roi)
    true_depth = config_data.get("true_depth")
    true_depth = float(true_depth) if true_depth not in (None, "auto") else \
        true_depth_of(background, roi)
    batches = [list(b) for b in frame_batches]
    with open_depth_video(input_file, mapping=config.mapping, threads=config.threads) as reader:
        camera = detect_camera(input_file, config.camera_type, (reader.info.width,
                                                                reader.info.height))
        extractor = BlockExtractor(reader, bbox=(y0, y1, x0, x1), background=background,
                                   roi=roi, params=params, first=0, last=reader.nframes)
        assembler = assembler_for(config, camera=camera, true_depth=true_depth,
                                  box_origin=(x0, y0), flip_model=load_flip_model(config))
        movie = video_pipe
        if movie is None and output_mov_path is not None:
            movie = PreviewWriter(output_mov_path, fps=config.fps, box_shape=(y1 - y0, x1 - x0),
                                  crop_size=config.crop_size[0],
                                  min_height=config.min_height, max_height=config.max_height)

        def emit(results) -> None:
            for res in results:
                if h5_file is not None:
                    write_extracted_chunk_to_h5(h5_file, _results_dict(res), config_data,
                                                scalars, res.frame_index, 0)
                if movie is not None:
                    movie.write(res.frames, res.box, res.frame_index)

        try:
            last_written = -1
            for k, batch in enumerate(batches):
                idx = np.asarray([i for i in batch if i > last_written], dtype=np.int64)
                if len(idx) == 0:
                    continue
                a, b = int(idx[0]), int(idx[-1]) + 1
                block = extractor.extract(a, b)
                assembler.add(np.arange(a, b), block.measures, block.box)
                last_written = b - 1
                emit(assembler.pop_ready(final=k == len(batches) - 1))
            emit(assembler.pop_ready(final=True))
        except BaseException:
            if movie is not None:
                movie.abort()
            raise
        if movie is not None:
            movie.close()
    return None


# ------------------------------------------------------------------------------------------
# many sessions
# ------------------------------------------------------------------------------------------
def _jobs_for(paths: Iterable[str | os.PathLike], config_data: Mapping[str, Any],
              skip_extracted: bool) -> tuple[list[ExtractJob], list[JobResult]]:
    config = config_from_dict(config_data, skip_completed=bool(skip_extracted))
    sessions = [describe_session(p, output_dir=config.output_dir,
                                 bg_roi_index=config.bg_roi_index) for p in paths]
    values = config.to_dict()
    values["session_config_path"] = config_data.get("session_config_path")
    return plan_jobs(sessions, values, skip_checks=True)


def run_local_extract(to_extract: Iterable[str | os.PathLike],
                      config_file: str | os.PathLike | Mapping[str, Any],
                      skip_extracted: bool = False) -> list[JobResult]:
    """Extract each session in turn in this process; a failure is logged and the loop
    goes on.

    Parameters
    ----------
    to_extract : iterable of path-like
        Depth files.
    config_file : path-like or mapping
        Config YAML (or an already loaded dict).
    skip_extracted : bool
        Skip sessions that are already complete.

    Returns
    -------
    list of JobResult
        One per session (the original returned None).
    """
    data = dict(config_file) if isinstance(config_file, Mapping) else \
        read_config_file(config_file)
    jobs, skipped = _jobs_for(to_extract, data, skip_extracted)
    results = InProcessRunner().run(jobs)
    for r in results:
        if not r.ok:
            logger.error("%s: extraction failed: %s", r.input_file, r.error)
    return skipped + results


def run_slurm_extract(input_dir: str | os.PathLike, to_extract: Iterable[str | os.PathLike],
                      config_data: Mapping[str, Any], skip_extracted: bool = False
                      ) -> list[JobResult] | list[str]:
    """Extract sessions on SLURM.

    With ``slurm_submit: dask`` (the default) the sessions run as dask-jobqueue SLURM jobs
    (``partition``, ``ncpus``, ``memory``, ``wall_time``, ``job_extra_directives``,
    ``prefix``, ``slurm_jobs``) and the call returns when all are finished.  With
    ``slurm_submit: script`` it writes each session's config to
    ``<output_dir>/config.yaml`` and the ``sbatch`` lines to
    ``<input_dir>/<extract_out_script>``, and runs them when ``run_cmd`` is set (the
    original's behaviour).

    Returns
    -------
    list of JobResult, or list of str
        The results (dask), or the command lines (script).
    """
    jobs, skipped = _jobs_for(to_extract, config_data, skip_extracted)
    config = config_from_dict(config_data).to_dict()
    if config.get("slurm_submit") == "script":
        script = Path(input_dir) / str(config.get("extract_out_script") or "extract_out.sh")
        _, lines = write_sbatch_script(jobs, script, config)
        if config.get("run_cmd"):
            for line in lines:
                proc = subprocess.run(line, shell=True, check=False)  # noqa: S602 - user's own
                if proc.returncode:
                    logger.error("submission failed (%d): %s", proc.returncode, line)
        return lines
    if not jobs:
        return skipped
    runner = SlurmDaskRunner(config, max_jobs=int(config.get("slurm_jobs") or 0))
    return skipped + runner.run(jobs)
