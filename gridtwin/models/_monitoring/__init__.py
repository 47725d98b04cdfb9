"""Serving helpers shared by the monitoring module's four models (numpy only: no sklearn or
torch at serving time, so the module process stays small and single-row calls stay fast)."""
