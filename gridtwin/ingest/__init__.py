"""Ingest library: reading validation and bounded de-duplication (used by services/ingest)."""
