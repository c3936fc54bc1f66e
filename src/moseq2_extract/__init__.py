"""moseq2_extract: fast, streaming extraction of mouse depth videos for MoSeq."""

#: The moseq2-extract version this package is a drop-in for: what ``--version`` reports
#: first and what ``/metadata/extraction/extract_version`` holds, as downstream tools
#: (moseq2-pca, moseq2-viz, moseq2-app) expect.
__version__ = "1.4.0"

#: This implementation and its own version (docs/compatibility.md, "Which implementation
#: wrote a file").
IMPLEMENTATION_NAME = "moseq2-extract-fast"
IMPLEMENTATION_VERSION = "0.1.0"
IMPLEMENTATION = f"{IMPLEMENTATION_NAME} {IMPLEMENTATION_VERSION}"
