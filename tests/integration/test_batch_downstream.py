"""Downstream proof: moseq2-pca 1.4.0 runs train-pca and apply-pca on our aggregate folder
and index (benchmarks/check_downstream_pca.py).  Installs moseq2-pca into its own virtual
environment, so it runs only with MOSEQ2_DOWNSTREAM=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "check_downstream_pca.py"


@pytest.mark.downstream
@pytest.mark.skipif(os.environ.get("MOSEQ2_DOWNSTREAM") != "1",
                    reason="set MOSEQ2_DOWNSTREAM=1 to install and run moseq2-pca 1.4.0")
def test_moseq2_pca_trains_and_applies_on_our_output(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--frames", "300", "--json", str(out)],
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["result"] == "PASS"
    assert len(result["scores"]) == 3
    assert all(shape == [300, result["components"][0]] for shape in result["scores"].values())
