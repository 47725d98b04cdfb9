"""Load forecasting at inference: config, features, members, the ensemble and persistence.

Numpy and ONNX Runtime only (the LSTM member's graph): fitting (Keras, Prophet, ridge), data
loading, evaluation, the simulator's series, the benchmark and the `gridtwin forecast`
command live in ``training/forecast/``.
"""
