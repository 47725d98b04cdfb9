"""Training helpers shared by the maintenance module's models."""
