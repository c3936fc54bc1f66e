"""Output layer: results_XX.h5 (layout, writer), results_XX.yaml (status), preview movie.

Every file is written under a temporary name and renamed when complete, so an interrupted
extraction never leaves a file that looks finished.
"""

from .h5layout import LAYOUT, SCALAR_DESCRIPTIONS, DatasetSpec, scalar_attributes
from .h5writer import ResultsWriter, create_extract_h5, partial_path, read_results
from .movie import PreviewWriter, select_codec
from .status import is_complete, read_status, write_status

__all__ = [
    "LAYOUT",
    "SCALAR_DESCRIPTIONS",
    "DatasetSpec",
    "PreviewWriter",
    "ResultsWriter",
    "create_extract_h5",
    "is_complete",
    "partial_path",
    "read_results",
    "read_status",
    "scalar_attributes",
    "select_codec",
    "write_status",
]
