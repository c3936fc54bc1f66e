"""Background, floor plane and arena ROI (run once per session)."""
