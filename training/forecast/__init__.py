"""Load forecasting, training side: data loading, the simulator's series, fitting the members
(Keras LSTM, Prophet, ridge) and the ensemble, evaluation, the Taylor benchmark and the
`gridtwin forecast` command. Serving (``gridtwin.forecast``) needs none of it."""
