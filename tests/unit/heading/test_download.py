"""Downloading a published flip classifier (heading/download.py)."""

import pytest

from moseq2_extract.config import read_config_file
from moseq2_extract.errors import ConfigError
from moseq2_extract.heading import download as flip_download
from moseq2_extract.heading.classifier import save_flip_classifier


def test_download_from_a_reachable_url_updates_the_config(forest, tmp_path, monkeypatch):
    source = save_flip_classifier(tmp_path / "published.npz", forest)
    monkeypatch.setattr(flip_download, "FLIP_CLASSIFIERS",
                        (("test mice", source.as_uri()),))
    config = tmp_path / "config.yaml"
    config.write_text("crop_size: [40, 40]\nflip_classifier: null\n")
    path = flip_download.download_flip_file(config, tmp_path / "dl", choose=lambda menu: "0")
    assert path == tmp_path / "dl" / "published.npz" and path.exists()
    assert read_config_file(config)["flip_classifier"] == str(path.resolve())
    with pytest.raises(ConfigError, match="selection must be 0-0"):
        flip_download.download_flip_file(config, tmp_path / "dl", 3)


def test_download_without_network_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(flip_download, "FLIP_CLASSIFIERS",
                        (("unreachable", "http://127.0.0.1:9/flip.npz"),))
    with pytest.raises(flip_download.FlipDownloadError) as err:
        flip_download.download_flip_file(None, tmp_path, 0, timeout=2)
    assert "\n" not in str(err.value) and "127.0.0.1:9/flip.npz" in str(err.value)
    assert not list(tmp_path.iterdir())  # nothing half-written
