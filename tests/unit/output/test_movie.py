"""Preview movie encoding (output/movie.py): codec, segments, temp-name handling."""

from __future__ import annotations

import av
import numpy as np
import pytest

from moseq2_extract.output.movie import (
    PreviewWriter,
    select_codec,
)

from .blobs import MAX_H, MIN_H, moving_blob_frames


def _decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = (stream.codec_context.name, stream.width, stream.height, stream.average_rate)
        images = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return info, np.stack(images)


@pytest.mark.parametrize("background", [True, False])
def test_encode_decode(tmp_path, background):
    n, c, h, w = 24, 32, 60, 50
    crops = np.zeros((n, c, c), np.uint8)
    crops[:, 8:24, 8:24] = MIN_H + 0.75 * (MAX_H - MIN_H)  # jet(0.75): orange
    box = np.zeros((n, h, w), np.uint8)
    box[:, 20:40, 10:30] = MAX_H  # jet(1.0): dark red
    path = tmp_path / "results_00.mp4"
    with PreviewWriter(path, fps=30, box_shape=(h, w), crop_size=c, min_height=MIN_H,
                       max_height=MAX_H, background=background) as writer:
        writer.write(crops[:10], box[:10], np.arange(100, 110))
        writer.write(crops[10:], box[10:], np.arange(110, 100 + n))
        assert not path.exists()
    assert path.exists() and not writer.partial_path.exists()
    assert writer.frames_written == n
    (codec, width, height, rate), frames = _decode(path)
    assert frames.shape == (n, h + c, w + c, 3)
    assert (width, height) == (w + c, h + c) and rate == 30
    if select_codec() == "libx264":
        assert codec == "h264"
    crop_px = frames[:, 12:20, 12:20].reshape(-1, 3).astype(int).mean(axis=0)
    assert crop_px[0] > 200 and 100 < crop_px[1] < 200 and crop_px[2] < 50
    box_px = frames[:, c + 25:c + 35, c + 15:c + 25].reshape(-1, 3).astype(int).mean(axis=0)
    assert 100 < box_px[0] < 160 and box_px[1] < 30 and box_px[2] < 30
    floor_px = frames[:, c + 50:, c + 40:].reshape(-1, 3).astype(int).mean(axis=0)
    assert floor_px[0] < 30 and floor_px[1] < 30 and 100 < floor_px[2] < 160


def test_full_size_frame(tmp_path):
    """308 x 308 ROI box + 80 crop -> 388 x 388 frames (as verified on the original)."""
    path = tmp_path / "m.mp4"
    with PreviewWriter(path, fps=30, box_shape=(308, 308), crop_size=80, min_height=MIN_H,
                       max_height=MAX_H) as writer:
        writer.write(np.zeros((3, 80, 80), np.uint16), np.zeros((3, 308, 308), np.uint16),
                     np.arange(3))
    assert writer.frame_size == (388, 388)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (388, 388)
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in container.decode(stream)) == 3


def test_exception_and_abort_leave_nothing(tmp_path):
    path = tmp_path / "m.mp4"
    args = dict(fps=30, box_shape=(20, 20), crop_size=8, min_height=MIN_H, max_height=MAX_H)
    with pytest.raises(RuntimeError, match="boom"), PreviewWriter(path, **args) as writer:
        writer.write(np.zeros((4, 8, 8), np.uint8), np.zeros((4, 20, 20), np.uint8),
                     np.arange(4))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    writer = PreviewWriter(path, **args)
    with pytest.raises(ValueError, match="box"):
        writer.write(np.zeros((4, 8, 8), np.uint8), np.zeros((4, 20, 21), np.uint8),
                     np.arange(4))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_worker_error_surfaces(tmp_path):
    path = tmp_path / "m.mp4"
    writer = PreviewWriter(path, fps=30, box_shape=(20, 20), crop_size=8, min_height=MIN_H,
                           max_height=MAX_H, background=True)
    # frame numbers that cannot be drawn fail inside the encoding thread
    writer.write(np.zeros((2, 8, 8), np.uint8), np.zeros((2, 20, 20), np.uint8),
                 np.array(["a", "b"]))
    with pytest.raises(ValueError):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_no_frames_no_file(tmp_path):
    path = tmp_path / "m.mp4"
    with PreviewWriter(path, fps=30, box_shape=(20, 20), crop_size=8, min_height=MIN_H,
                       max_height=MAX_H) as writer:
        pass
    assert writer.close() is None
    assert list(tmp_path.iterdir()) == []


def _packets(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(int(p.pts), bool(p.is_keyframe)) for p in container.demux(stream) if p.size]


def test_movie_is_encoded_in_independent_segments(tmp_path):
    import pickle
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from moseq2_extract.output.movie import SEGMENT_FRAMES, EncodedSegment

    n = 2 * SEGMENT_FRAMES + 40
    crops, box = moving_blob_frames(n, seed=1)
    index = np.arange(1000, 1000 + n)
    args = dict(fps=30, box_shape=box.shape[1:], crop_size=crops.shape[1],
                min_height=MIN_H, max_height=MAX_H)

    def write(path, step, **kw):
        with PreviewWriter(path, **args, **kw) as writer:
            for s in range(0, n, step):
                writer.write(crops[s:s + step], box[s:s + step], index[s:s + step])
        assert writer.frames_written == n
        return path.read_bytes()

    inline = write(tmp_path / "a.mp4", 300, background=False)
    with ThreadPoolExecutor(3) as pool:
        threads = write(tmp_path / "b.mp4", 7, executor=pool)
    import multiprocessing

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        processes = write(tmp_path / "c.mp4", 64, executor=pool)
    # how frames were handed over and who encoded them does not change a byte
    assert inline == threads == processes
    packets = _packets(tmp_path / "a.mp4")
    assert len(packets) == n
    rate = packets[1][0] - packets[0][0]
    keys = [pts // rate for pts, key in packets if key]
    assert keys == [0, SEGMENT_FRAMES, 2 * SEGMENT_FRAMES]
    (_, width, height, _), frames = _decode(tmp_path / "a.mp4")
    assert frames.shape[0] == n and (width, height) == (box.shape[2] + 16, box.shape[1] + 16)
    # segments are plain data, so worker processes can return them
    from fractions import Fraction

    from moseq2_extract.output.movie import EncoderSettings, encode_segment
    settings = EncoderSettings(select_codec(), width, height, Fraction(30))
    segment = encode_segment(settings, [(crops[:20], box[:20], index[:20])],
                             crop_size=16, box_shape=box.shape[1:], min_height=MIN_H,
                             max_height=MAX_H)
    assert isinstance(pickle.loads(pickle.dumps(segment)), EncodedSegment)
    assert len(segment.packets) == 20 and segment.packets[0][3] is True


@pytest.mark.parametrize("n", [1, 7, 255, 256, 511, 600, 1800, 18000])
def test_segment_plan_spreads_the_end_over_small_segments(n):
    from moseq2_extract.output.movie import SEGMENT_FRAMES, TAIL_SEGMENTS, segment_plan

    plan = segment_plan(n)
    assert sum(plan) == n and all(0 < s <= SEGMENT_FRAMES for s in plan)
    tail = plan[-min(len(plan), TAIL_SEGMENTS):]
    assert max(tail) - min(tail) <= 1  # the last segments are even
    assert all(s == SEGMENT_FRAMES for s in plan[:-TAIL_SEGMENTS])


def test_movie_of_known_length_keys_every_planned_segment(tmp_path):
    from moseq2_extract.output.movie import segment_plan

    n = 700
    crops, box = moving_blob_frames(n, seed=2)
    args = dict(fps=30, box_shape=box.shape[1:], crop_size=crops.shape[1],
                min_height=MIN_H, max_height=MAX_H, total_frames=n)
    files = []
    for step in (9, 100):
        path = tmp_path / f"m{step}.mp4"
        with PreviewWriter(path, **args) as writer:
            for s in range(0, n, step):
                writer.write(crops[s:s + step], box[s:s + step], np.arange(s, min(n, s + step)))
        files.append(path.read_bytes())
    assert files[0] == files[1]
    packets = _packets(tmp_path / "m9.mp4")
    rate = packets[1][0] - packets[0][0]
    keys = [pts // rate for pts, key in packets if key]
    assert keys == list(np.cumsum([0, *segment_plan(n)[:-1]]))


def test_movie_continued_from_logged_segments_is_the_same_file(tmp_path):
    """A run interrupted after some segments: the segments logged so far, written into a
    new movie, plus the rest encoded, give the uninterrupted run's bytes."""
    from moseq2_extract.output.movie import SEGMENT_FRAMES, SegmentLog, read_segment_log

    n = 5 * SEGMENT_FRAMES + 100  # planned: 3 full segments, then 4 smaller ones
    crops, box = moving_blob_frames(n, seed=2)
    index = np.arange(n)
    args = dict(fps=30, box_shape=box.shape[1:], crop_size=crops.shape[1],
                min_height=MIN_H, max_height=MAX_H, background=False, total_frames=n)
    with PreviewWriter(tmp_path / "whole.mp4", **args) as writer:
        writer.write(crops, box, index)
    log = SegmentLog(tmp_path / "log")
    cut = PreviewWriter(tmp_path / "cut.mp4", **args, segment_log=log)
    for s in range(0, 2 * SEGMENT_FRAMES + 50, 50):
        cut.write(crops[s:s + 50], box[s:s + 50], index[s:s + 50])
    size = log.sync(2 * SEGMENT_FRAMES)  # the bytes of the first two segments
    cut.abort()
    log.close()
    restored = read_segment_log(tmp_path / "log", size)
    assert [(a, k) for a, k, _ in restored] == [(0, SEGMENT_FRAMES),
                                                (SEGMENT_FRAMES, SEGMENT_FRAMES)]
    log = SegmentLog(tmp_path / "log", keep=size, frames=2 * SEGMENT_FRAMES)
    with PreviewWriter(tmp_path / "resumed.mp4", **args, segment_log=log,
                       restored=restored) as writer:
        rest = slice(2 * SEGMENT_FRAMES, n)
        writer.write(crops[rest], box[rest], index[rest])
    assert (tmp_path / "resumed.mp4").read_bytes() == (tmp_path / "whole.mp4").read_bytes()
    # the log now holds every segment once, in order
    whole = read_segment_log(tmp_path / "log", log.sync(n))
    assert sum(k for _, k, _ in whole) == n and whole[0][0] == 0
    with pytest.raises(ValueError, match="expected"):
        read_segment_log(tmp_path / "log", size * 100)
    log.close()
