"""The model lifecycle at serving time: versions and aliases, drift, the challenger's routing."""
