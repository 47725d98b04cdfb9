"""Load forecasting: data loading, features, members (Prophet, LSTM, lag model), the ensemble
and its evaluation (split like OpenSTEF: data / features / model / evaluation).

Importing this package (and `data`, `features`, `model`, `evaluation`) never imports torch or
prophet: those are imported inside the functions that fit the LSTM and Prophet members, so
the served model (`gridtwin.models.load_forecast`) runs on numpy alone: pandas is only
imported by `data`, `evaluation` and the fitting code, never by the serving path.
"""

__all__ = ["LoadSeries", "infer_resolution", "load_csv", "load_taylor", "taylor_split"]


def __getattr__(name: str):
    if name in __all__:
        from gridtwin.forecast import data

        return getattr(data, name)
    raise AttributeError(name)
