#!/usr/bin/env bash
# Install the REFERENCE tool (moseq2-extract 1.4.0 from PyPI) in its own virtual
# environment, for side-by-side comparisons (benchmarks/bench_vs_reference.py).
#
# Idempotent: re-running it only installs what is missing.
#   MOSEQ2_REF_VENV   venv location (default /opt/moseq2-ref)
#   MOSEQ2_REF_PYTHON interpreter used to create the venv (default python3)
#
# The reference shells out to the ffmpeg/ffprobe binaries, so Debian's ffmpeg is
# installed system-wide (our own package never needs it). The system Python's
# packages are not touched.
set -euo pipefail

VENV="${MOSEQ2_REF_VENV:-/opt/moseq2-ref}"
PY="${MOSEQ2_REF_PYTHON:-python3}"
REF_VERSION="1.4.0"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
    echo "[setup_reference] installing Debian ffmpeg"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq ffmpeg >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup_reference] creating venv $VENV"
    "$PY" -m venv "$VENV"
fi

have=$("$VENV/bin/python" -c \
    'import importlib.metadata as m; print(m.version("moseq2-extract"))' 2>/dev/null || true)
if [ "$have" != "$REF_VERSION" ]; then
    echo "[setup_reference] installing moseq2-extract==$REF_VERSION into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q "moseq2-extract==$REF_VERSION"
fi

"$VENV/bin/moseq2-extract" --version
