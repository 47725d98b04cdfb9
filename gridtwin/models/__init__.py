"""Serving code of the sixteen models: `gridtwin.models.<assessment_field>.Model`.

Each module is a `ServedModel` subclass built from its registry entry. Training code for the
same model lives in `training.models.<assessment_field>` and writes the artifacts this code loads.
"""
