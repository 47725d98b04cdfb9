"""One module per model, named as its Assessment field, each exposing
`train(ctx: TrainContext) -> TrainResult`."""
