"""Verification of an FFV1 copy during its encoding (io/stream_verify.py)."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.errors import ExtractionError
from moseq2_extract.io.stream_verify import StreamVerifier, check_packets
from moseq2_extract.io.writers import DepthVideoWriter


class Mismatch(ExtractionError):
    pass


def _encode(path, frames, expected, threads=2):
    holder = []
    verifier = StreamVerifier(path, lambda: holder[0].extradata, width=frames.shape[2],
                              height=frames.shape[1], threads=threads, error=Mismatch)
    try:
        with DepthVideoWriter(path, width=frames.shape[2], height=frames.shape[1],
                              on_packet=verifier.packet) as writer:
            holder.append(writer)
            for a in range(0, len(frames), 4):
                verifier.expect(expected[a:a + 4])
                writer.write(frames[a:a + 4])
        verifier.finish(len(frames))
    finally:
        verifier.close()
    return verifier


@pytest.fixture
def frames():
    return np.random.default_rng(5).integers(0, 4000, (10, 96, 128), dtype=np.uint16)


def test_equal_frames_pass_and_the_file_holds_the_packets(frames, tmp_path):
    verifier = _encode(tmp_path / "a.avi", frames, frames)
    assert verifier.verified == 10 and len(verifier.digests) == 10
    check_packets(tmp_path / "a.avi", verifier.digests, width=128, height=96, error=Mismatch)


def test_a_frame_that_does_not_decode_to_its_source_is_found(frames, tmp_path):
    expected = frames.copy()
    expected[6, 50, 60] += 1
    with pytest.raises(Mismatch, match="frame 6 differs from the source"):
        _encode(tmp_path / "b.avi", frames, expected)


def test_a_file_whose_packets_changed_is_found(frames, tmp_path):
    path = tmp_path / "c.avi"
    verifier = _encode(path, frames, frames)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a packet's payload
    path.write_bytes(bytes(data))
    with pytest.raises(Mismatch, match="packets differ from those encoded"):
        check_packets(path, verifier.digests, width=128, height=96, error=Mismatch)
    with pytest.raises(Mismatch, match="expected ffv1 gray16le 64x96"):
        check_packets(path, verifier.digests, width=64, height=96, error=Mismatch)
