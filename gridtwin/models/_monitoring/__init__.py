"""Serving helpers shared by the monitoring module's four models (numpy and ONNX Runtime only: no
sklearn or TensorFlow at serving time, so the module process stays small and single-row calls stay fast)."""
