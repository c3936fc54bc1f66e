"""The command line limits glibc's malloc arenas (cli/malloc.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's mallopt only")
def test_arenas_are_limited_in_a_fresh_process():
    # mallopt answers 1 when it takes the setting; the CLI's group applies it first thing
    code = ("from moseq2_extract.cli.malloc import limit_malloc_arenas as f; "
            "print(f(2), f(1))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True"]


def test_the_extract_group_applies_it(monkeypatch):
    from click.testing import CliRunner

    from moseq2_extract.cli import main

    calls = []
    monkeypatch.setattr(main, "limit_malloc_arenas", lambda: calls.append(1) or True)
    result = CliRunner().invoke(main.cli, ["generate-config", "--help"])
    assert result.exit_code == 0 and calls == [1]
