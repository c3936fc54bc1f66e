"""NWB export: valid for pynwb and nwbinspector, and every array equal to the h5's."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

from moseq2_extract.extract.quality import QUALITY_DATASET  # noqa: E402
from moseq2_extract.extract.results import SCALAR_NAMES  # noqa: E402
from moseq2_extract.nwb import export_nwb  # noqa: E402


@pytest.fixture(scope="module")
def exported(extracted_batch, tmp_path_factory):
    _, h5s = extracted_batch
    h5 = h5s[1]  # the hand case: quality flags and heading confidence
    out = export_nwb(h5, tmp_path_factory.mktemp("nwb") / "session.nwb")
    return h5, out


def test_valid_for_pynwb_and_nwbinspector(exported):
    _, path = exported
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        errors = pynwb.validate(io=io)
    assert list(errors) == []
    messages = list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path)))
    serious = [m for m in messages if m.importance.name in
               ("CRITICAL", "BEST_PRACTICE_VIOLATION", "ERROR")]
    assert serious == [], [m.message for m in serious]


def test_read_back_equals_the_h5(exported):
    h5_path, path = exported
    with h5py.File(h5_path, "r") as f, pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        behavior = nwb.processing["behavior"]
        video = behavior["processed_depth_video"]
        np.testing.assert_array_equal(video.data[:], f["frames"][()])
        np.testing.assert_array_equal(behavior["processed_depth_video_mask"].data[:],
                                      f["frames_mask"][()].astype(np.uint8))
        ts = f["timestamps"][()]
        np.testing.assert_allclose(video.timestamps[:], (ts - ts[0]) / 1000.0, rtol=0,
                                   atol=1e-9)
        for name in SCALAR_NAMES:
            np.testing.assert_array_equal(behavior["scalars"][name].data[:],
                                          f[f"scalars/{name}"][()])
        centroid = behavior["position"]["centroid"].data[:]
        np.testing.assert_array_equal(centroid[:, 0], f["scalars/centroid_x_mm"][()])
        np.testing.assert_array_equal(centroid[:, 1], f["scalars/centroid_y_mm"][()])
        np.testing.assert_array_equal(behavior["heading"]["heading"].data[:],
                                      f["scalars/angle"][()])
        ext = f["metadata/extraction"]
        images = behavior["images"]
        np.testing.assert_array_equal(images["background"].data[:], ext["background"][()])
        np.testing.assert_array_equal(images["roi"].data[:], ext["roi"][()].astype(np.uint8))
        np.testing.assert_array_equal(images["first_frame"].data[:], ext["first_frame"][()])
        extra = behavior["extraction"]
        np.testing.assert_array_equal(extra["quality"].data[:], f[QUALITY_DATASET][()])
        np.testing.assert_array_equal(extra["heading_confidence"].data[:],
                                      ext["heading_confidence"][()])
        np.testing.assert_array_equal(extra["flips"].data[:], ext["flips"][()].astype(np.uint8))
        table = behavior["extraction_parameters"].to_dataframe()
        values = dict(zip(table["parameter"], table["value"]))
        assert values["crop_size"] == "[80, 80]"
        assert values["extract_version"] == '"1.4.0"'
        assert nwb.subject.subject_id == f["metadata/acquisition/SubjectName"].asstr()[()]
        assert nwb.session_id == f["metadata/acquisition/SessionName"].asstr()[()]
        assert nwb.identifier == f["metadata/uuid"].asstr()[()]
        assert nwb.session_start_time.year == 2026
