"""Snapshots of an interrupted run: what must match to continue, and when they are taken."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.output.movie import segment_plan
from moseq2_extract.pipeline.resume import Checkpoints, difference
from moseq2_extract.pipeline.sequence import SequenceAssembler

SAVED = {"version": "1.0", "input": {"path": "/d/depth.dat", "size": 100, "mtime_ns": 5},
         "timestamps": "ab", "metadata": "cd", "flip_classifier_file": None,
         "frames": [0, 900], "parameters": {"min_height": 10, "chunk_size": 64}}


def _changed(path, value):
    now = copy.deepcopy(SAVED)
    *head, last = path
    target = now
    for key in head:
        target = target[key]
    target[last] = value
    return now


def test_equal_fingerprints_continue():
    assert difference(SAVED, copy.deepcopy(SAVED)) is None


@pytest.mark.parametrize("path, value, why", [
    (("version",), "2.0", "made by version 1.0 (this is 2.0)"),
    (("input", "size"), 120, "the input changed since (size 100 -> 120 bytes)"),
    (("input", "mtime_ns"), 6, "the input changed since (size 100 -> 100 bytes, modified)"),
    (("input", "path"), "/e/depth.dat", "it was made from /d/depth.dat"),
    (("timestamps",), "xx", "the input's timestamps changed since"),
    (("metadata",), "xx", "the input's metadata.json changed since"),
    (("frames",), [0, 800], "the input's frame range changed since"),
    (("parameters", "min_height"), 12, "parameters differ (min_height: 10 -> 12)"),
])
def test_each_difference_is_one_line_saying_what(path, value, why):
    said = difference(SAVED, _changed(path, value))
    assert said is not None and why in said and "\n" not in said


def test_many_changed_parameters_are_summed_up():
    now = copy.deepcopy(SAVED)
    now["parameters"] = {f"p{i}": i for i in range(5)}
    said = difference(SAVED, now)
    assert said is not None and said.endswith("and 4 more)")


def test_candidates_fall_on_movie_segment_ends_and_are_spaced_in_time():
    asm = SequenceAssembler(camera=KINECT, true_depth=670.0, box_origin=(0, 0))
    n = 3000
    ends = set(np.cumsum(segment_plan(n)).tolist())
    points = Checkpoints(n, movie=True, interval=0.0)
    offered = [r for r in range(64, n, 64) if points.offer(asm, r, r) is not None
               and not points.saved()]
    assert offered and set(offered) <= ends and 0 not in offered
    assert Checkpoints(n, movie=False, interval=0.0).offer(asm, 64, 64) is not None
    waiting = Checkpoints(n, movie=False, interval=0.0)
    assert waiting.offer(asm, 64, 64) is not None
    assert waiting.offer(asm, 128, 128) is None  # the first is not saved yet
    waiting.saved()
    spaced = Checkpoints(n, movie=False, interval=3600.0)
    assert spaced.offer(asm, 64, 64) is not None  # the first at once
    spaced.saved()
    assert spaced.offer(asm, 128, 128) is None
    assert Checkpoints(n, movie=False, interval=0.0).offer(asm, n, n) is None  # finished
