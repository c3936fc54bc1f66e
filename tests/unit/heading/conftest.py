"""A small trained flip forest shared by the classifier and download tests."""

import numpy as np
import pytest

from moseq2_extract.heading.training import (
    ForestParams,
    candidate_pixels,
    train_forest,
    view_values,
)

from .crops import SMALL_C as C
from .crops import crops_east


@pytest.fixture(scope="session")
def forest():
    rng = np.random.default_rng(0)
    east = crops_east(150, rng, C)
    pixels = candidate_pixels(C)
    x, y = view_values(east, pixels)
    return train_forest(x, y, pixels=pixels, crop_size=C,
                        params=ForestParams(n_trees=8, max_depth=8), rng=rng,
                        meta={"note": "test"})
