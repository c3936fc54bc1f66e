"""Per-chunk extraction: pure array functions, plus the state that links chunks."""
