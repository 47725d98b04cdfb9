"""Shared code of the decision and demand-response models (profiles, MCDA, dispatch LP)."""
