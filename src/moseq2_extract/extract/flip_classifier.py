"""The original's module path for flip classifiers (spec 6.5); they live in
:mod:`moseq2_extract.heading.classifier`."""

from ..heading.classifier import (
    FlipModel,
    ForestClassifier,
    load_flip_classifier,
    load_flip_model,
    save_flip_classifier,
)

__all__ = ["FlipModel", "ForestClassifier", "load_flip_classifier", "load_flip_model",
           "save_flip_classifier"]
