"""The flip-classifier commands (cli/flip.py)."""

import click
from click.testing import CliRunner

from moseq2_extract.cli.flip import register
from moseq2_extract.config import read_config_file
from moseq2_extract.heading import download as flip_download


def test_download_command_explains_the_alternatives(tmp_path, monkeypatch):
    @click.group()
    def group():
        pass

    register(group)
    monkeypatch.setattr(flip_download, "FLIP_CLASSIFIERS",
                        (("unreachable", "http://127.0.0.1:9/flip.npz"),))
    config = tmp_path / "config.yaml"
    config.write_text("flip_classifier: null\n")
    result = CliRunner().invoke(group, ["download-flip-file", str(config), "--output-dir",
                                        str(tmp_path / "dl")], input="0\n")
    assert result.exit_code == 1
    text = result.output
    assert "[0] unreachable" in text
    assert sum(line.startswith("Error: cannot download") for line in text.splitlines()) == 1
    assert "train-flip-classifier" in text and "without training" in text
    assert read_config_file(config)["flip_classifier"] is None
