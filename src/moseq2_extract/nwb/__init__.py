"""NWB export of an extraction (the ``nwb`` extra: pynwb).

The layout follows ``ndx-depth-moseq`` (the names of its groups and series) with pynwb's
core types only: that extension pins ``pynwb < 3`` and its types (``DepthImageSeries``,
``MoSeqExtractGroup``, ``MoSeqExtractParameterGroup``) would tie every user to an old
pynwb; core types read in any NWB tool without a namespace to load.  See
:mod:`.export` for the layout.
"""

from .export import DEFAULT_SPECIES, default_nwb_path, export_nwb

__all__ = ["DEFAULT_SPECIES", "default_nwb_path", "export_nwb"]
