"""Training helpers shared by the monitoring module's four models."""
