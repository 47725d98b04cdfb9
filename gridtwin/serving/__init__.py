"""Serving-side plumbing shared by the four model modules."""
