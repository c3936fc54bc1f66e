"""The background: sample frames and their per-pixel median (roi/background.py)."""

import numpy as np

from moseq2_extract.roi.background import background_sample_indices, median_background


def test_median_background_ignores_zeros():
    frames = np.full((5, 10, 10), 700, np.uint16)
    frames[:3, 2, 2] = 0  # invalid in most samples
    frames[4, 5, 5] = 640  # a mouse in one sample
    bg = median_background(frames, med_scale=0)
    assert bg[2, 2] == 700 and bg[5, 5] == 700
    frames[:, 7, 7] = 0
    assert median_background(frames, med_scale=0)[7, 7] == 0


def test_sample_indices_cover_recording():
    idx = background_sample_indices(1800, frame_stride=500)
    assert len(idx) >= 25 and idx[0] == 0 and idx[-1] < 1800
    assert list(background_sample_indices(10_000, frame_stride=500)[:3]) == [0, 400, 800]
    assert list(background_sample_indices(100_000, frame_stride=500)[:2]) == [0, 500]


def test_background_ignores_a_mouse_resting_in_most_samples():
    rng = np.random.default_rng(0)
    frames = (700 + rng.normal(0, 1.5, (20, 30, 30))).astype(np.uint16)
    frames[:14, 10:20, 10:20] -= 40  # the mouse sits there in 70 % of the samples
    bg = median_background(frames, med_scale=5)
    assert abs(float(bg[15, 15]) - 700) < 2
    assert abs(float(bg[5, 5]) - 700) < 2


def test_sort_network_sorts_like_numpy():
    from moseq2_extract.roi.background import sort_network

    rng = np.random.default_rng(2)
    for k in range(1, 70):
        stack = rng.integers(0, 40, (k, 6, 5)).astype(np.uint16)
        ordered = stack.copy()
        sort_network(ordered)
        assert np.array_equal(ordered, np.sort(stack, axis=0)), k


def test_unsigned_frames_give_the_float_path_bits():
    """uint16 frames take the sorting-network path; float frames of the same values the
    np.sort path: identical bits, including invalid pixels, depths within the floor
    tolerance of zero and pixels with one or two valid samples."""
    rng = np.random.default_rng(3)
    for trial in range(60):
        k = int(rng.integers(1, 40))
        frames = rng.integers(0, 12, (k, 8, 9)).astype(np.uint16)
        if trial % 2:
            frames = (frames * 60 + rng.integers(0, 9, frames.shape)).astype(np.uint16)
        frames[rng.random(frames.shape) < rng.random()] = 0
        fast = median_background(frames, med_scale=0)
        slow = median_background(frames.astype(np.float32), med_scale=0)
        assert fast.dtype == slow.dtype == np.float32
        assert fast.tobytes() == slow.tobytes(), trial


def test_threads_give_the_same_background():
    """Frames blurred on threads and the medians of row bands put back together: the same
    bits as one thread, for bands of every size down to one row."""
    rng = np.random.default_rng(4)
    frames = (700 + rng.normal(0, 3, (25, 37, 41))).astype(np.uint16)
    frames[:10, 5:15, 8:20] -= 45
    frames[rng.random(frames.shape) < 0.05] = 0
    one = median_background(frames)
    for threads in (2, 3, 37, 64):
        many = median_background(frames, threads=threads)
        assert many.dtype == one.dtype and many.shape == one.shape
        assert many.tobytes() == one.tobytes(), threads


def test_bands_cover_the_range_in_order():
    from moseq2_extract.roi.parallel import bands, map_in_threads

    for length in (1, 2, 7, 424):
        for parts in (1, 2, 3, 8, 500):
            got = bands(length, parts)
            assert len(got) == min(parts, length)
            assert got[0][0] == 0 and got[-1][1] == length
            assert all(a[1] == b[0] for a, b in zip(got, got[1:]))
            sizes = [b - a for a, b in got]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert map_in_threads(lambda x: x * x, range(9), threads=4) == [x * x for x in range(9)]
    assert map_in_threads(lambda x: x, [], threads=4) == []
