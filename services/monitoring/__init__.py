"""The monitoring module service: four models of the Assessment, loaded from the registry."""
