"""Training pipeline (`gridtwin train`): data → features → split → tune → fit → evaluate →
register, one module per model in `training.models`."""
