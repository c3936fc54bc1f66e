"""``python -m moseq2_extract.cli``."""

from .main import cli

cli()
