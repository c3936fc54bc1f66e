"""The ``moseq2-extract`` command line (``moseq2_extract.cli:cli``)."""

from .main import cli

__all__ = ["cli"]
