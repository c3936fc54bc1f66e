"""moseq2_extract: fast, streaming extraction of mouse depth videos for MoSeq."""

__version__ = "1.4.0"
