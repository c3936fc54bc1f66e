"""Preview movie: colour table, canvas layout, encoding, temp-name handling."""

from __future__ import annotations

import av
import numpy as np
import pytest

from moseq2_extract.output.movie import (
    PreviewWriter,
    colorize_heights,
    compose_preview,
    jet_lut,
    select_codec,
)

MIN_H, MAX_H = 10, 120


def test_jet_lut_matches_matplotlib_values():
    lut = jet_lut().astype(int)
    assert lut.shape == (256, 3)
    # matplotlib's jet: (0, 0, 0.5) at 0, (0.5, 0, 0) at 1, ~(0.490, 1, 0.478) at 0.5
    assert lut[0].tolist() == [0, 0, 127]
    assert lut[255].tolist() == [127, 0, 0]
    np.testing.assert_allclose(lut[128], [0.4902 * 255, 255, 0.4775 * 255], atol=1.01)
    # jet(191 / 255): red saturated, green 1 - (0.749 - 0.64) / 0.27, no blue
    np.testing.assert_allclose(lut[191], [255, 0.5955 * 255, 0], atol=1.01)


def test_colorize_scaling_and_dtypes():
    values = np.array([[0, 5, 10, 65, 120, 200, 250]])
    lut = jet_lut()
    # v' = clip((v - 10) / 110, 0, 1); index = min(int(v' * 256), 255)
    idx = [0, 0, 0, 128, 255, 255, 255]
    expected = lut[idx]
    for dtype in (np.uint8, np.uint16, np.float32, np.int32):
        got = colorize_heights(values.astype(dtype), min_height=MIN_H, max_height=MAX_H)
        assert got.dtype == np.uint8 and got.shape == (1, 7, 3)
        np.testing.assert_array_equal(got[0], expected, err_msg=str(dtype))
    big = np.array([[1000, 60000]], np.uint16)
    np.testing.assert_array_equal(
        colorize_heights(big, min_height=MIN_H, max_height=MAX_H)[0], lut[[255, 255]])
    with pytest.raises(ValueError, match="max_height"):
        colorize_heights(values, min_height=50, max_height=50)


def test_compose_layout_and_padding():
    n, c, h, w = 3, 40, 61, 75  # canvas 101 x 115 -> padded to 102 x 116
    crops = np.full((n, c, c), 120, np.uint8)
    box = np.full((n, h, w), 65, np.uint8)
    frames = compose_preview(crops, box, np.array([7, 8, 9]), min_height=MIN_H,
                             max_height=MAX_H)
    assert frames.shape == (n, 102, 116, 3)
    lut = jet_lut()
    # crop at the top-left, box at [c:c+h, c:c+w], colour of height 0 elsewhere
    assert (frames[:, :c, :c] == lut[255]).all()
    assert (frames[:, c:c + h, c:c + w] == lut[128]).all()
    assert (frames[:, :c, c:] == lut[0]).all()
    assert (frames[:, -1, c:] == lut[0]).all()  # padding row
    # the frame number is drawn in white in the lower-left area
    text_area = frames[:, c:, :c]
    assert (text_area == 255).all(axis=-1).any(axis=(1, 2)).all()


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


def test_yuv_composition_matches_rgb_composition():
    import cv2

    from moseq2_extract.output.movie import compose_preview, compose_preview_yuv

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 130, (3, 20, 20)).astype(np.uint8)
    # constant over 2 x 2 blocks, so chroma subsampling loses nothing
    box = np.kron(rng.integers(0, 130, (3, 16, 14)), np.ones((1, 2, 2)))[:, :31, :27]
    box = box.astype(np.uint8)
    crops = np.kron(crops[:, :10, :10], np.ones((1, 2, 2))).astype(np.uint8)
    rgb = compose_preview(crops, box, np.arange(3), min_height=10, max_height=120)
    yuv = compose_preview_yuv(crops, box, np.arange(3), min_height=10, max_height=120)
    assert yuv.shape == (3, rgb.shape[1] * 3 // 2, rgb.shape[2])
    ref = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420) for f in rgb])
    h, w = rgb.shape[1:3]

    def planes(i420):
        chroma = i420[:, h:].reshape(len(i420), 2, h // 2, w // 2)
        return i420[:, :h], chroma[:, 0], chroma[:, 1]

    # below the frame-number text (drawn in the top rows of this small canvas)
    for ours, theirs, row in zip(planes(yuv), planes(ref), (28, 14, 14)):
        np.testing.assert_array_equal(ours[:, row:], theirs[:, row:])


def _moving_blob_frames(n, c=16, h=40, w=50, seed=0):
    rng = np.random.default_rng(seed)
    crops = rng.integers(0, 130, (n, c, c)).astype(np.uint8)
    box = np.zeros((n, h, w), np.uint8)
    for i in range(n):
        y, x = 3 + (i * 3) % (h - 12), 2 + (i * 5) % (w - 14)
        box[i, y:y + 9, x:x + 11] = rng.integers(5, 130, (9, 11))
    return crops, box


def test_canvas_repaints_only_what_changed_but_matches_a_fresh_picture():
    from moseq2_extract.extract.results import BoxWindows
    from moseq2_extract.output.movie import PreviewCanvas, compose_preview_yuv

    crops, box = _moving_blob_frames(12)
    index = np.array([7, 8, 9, 10, 11, 99, 100, 101, 5, 6, 1000, 3])  # text width varies
    canvas = PreviewCanvas(box.shape[1:], crops.shape[1], min_height=MIN_H, max_height=MAX_H)
    windows = BoxWindows.from_dense(box)
    for i in range(len(index)):
        x, y = windows.rects[i, :2]
        canvas.paint(crops[i], windows.windows[i], index[i], at=(x, y))
        fresh = PreviewCanvas(box.shape[1:], crops.shape[1], min_height=MIN_H,
                              max_height=MAX_H)
        fresh.paint(crops[i], box[i], index[i])  # the whole box at (0, 0)
        np.testing.assert_array_equal(canvas.planes(), fresh.planes(), err_msg=str(i))
    np.testing.assert_array_equal(compose_preview_yuv(crops, windows, index, min_height=MIN_H,
                                                      max_height=MAX_H),
                                  compose_preview_yuv(crops, box, index, min_height=MIN_H,
                                                      max_height=MAX_H))


def _packets(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(int(p.pts), bool(p.is_keyframe)) for p in container.demux(stream) if p.size]


def test_movie_is_encoded_in_independent_segments(tmp_path):
    import pickle
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from moseq2_extract.output.movie import SEGMENT_FRAMES, EncodedSegment

    n = 2 * SEGMENT_FRAMES + 40
    crops, box = _moving_blob_frames(n, seed=1)
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
    crops, box = _moving_blob_frames(n, seed=2)
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
