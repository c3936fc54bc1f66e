"""The exception hierarchy (errors.py): one base class, and the built-in each error is."""

from __future__ import annotations

import pytest

from moseq2_extract import errors


@pytest.mark.parametrize(("cls", "builtin"), [
    (errors.ConfigError, ValueError),
    (errors.InputFileError, OSError),
    (errors.RoiError, ValueError),
    (errors.FlipClassifierError, ValueError),
    (errors.WorkerProcessError, RuntimeError),
])
def test_each_error_is_an_extraction_error_and_its_builtin(cls, builtin):
    err = cls("depth.dat: something is wrong")
    assert isinstance(err, errors.ExtractionError) and isinstance(err, builtin)
    with pytest.raises(builtin, match="depth.dat: something"):
        raise err
    others = {errors.ConfigError, errors.InputFileError, errors.RoiError,
              errors.FlipClassifierError, errors.WorkerProcessError} - {cls}
    assert not any(isinstance(err, o) for o in others)
