"""The head direction: the training-free heading model and flip classifiers (load, train,
download)."""
