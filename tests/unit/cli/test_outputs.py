"""``report``, ``export-nwb`` and the ``--report/--no-report``, ``--nwb`` options."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from moseq2_extract.cli import cli


def test_extract_writes_the_report_unless_told_not_to(session_factory):
    runner = CliRunner()
    depth = session_factory("dat", n_frames=150, seed=21)
    result = runner.invoke(cli, ["extract", str(depth), "--workers", "1", "--no-report"])
    assert result.exit_code == 0, result.output
    assert not (depth.parent / "proc" / "report.html").exists()
    depth = session_factory("dat", n_frames=150, seed=21)
    args = ["extract", str(depth), "--workers", "1"]
    try:
        import pynwb  # noqa: F401
        args.append("--nwb")
    except ImportError:
        pass
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    page = depth.parent / "proc" / "report.html"
    assert page.is_file() and f"Report: {page}" in result.output
    assert "extraction time" in page.read_text()
    if "--nwb" in args:
        assert (depth.parent / "proc" / "results_00.nwb").is_file()


def test_report_command(extracted_batch):
    folder, h5s = extracted_batch
    result = CliRunner().invoke(cli, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"Report: {folder / 'report.html'} (3 session(s)" in result.output
    result = CliRunner().invoke(cli, ["report", str(folder / "nowhere")])
    assert result.exit_code != 0


def test_export_nwb_command(extracted_batch, tmp_path):
    pytest.importorskip("pynwb")
    _, h5s = extracted_batch
    out = tmp_path / "x.nwb"
    result = CliRunner().invoke(cli, ["export-nwb", str(h5s[0].parent.parent), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and f"Wrote {out}" in result.output
    result = CliRunner().invoke(cli, ["export-nwb", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "no results_XX.h5" in result.output


def test_after_extraction_writes_the_page(extracted_batch, tmp_path):
    import shutil

    from moseq2_extract.cli.outputs import after_extraction

    _, h5s = extracted_batch
    target = tmp_path / "s"
    shutil.copytree(h5s[0].parent.parent, target)
    h5 = target / "proc" / h5s[0].name
    after_extraction([h5], seconds={str(h5): 3.0}, report=True, nwb=False)
    page = (target / "proc" / "report.html").read_text()
    assert "extraction time" in page and "Plotly.newPlot" in page
