"""The model lifecycle at training time: drift references, retraining, champion vs challenger."""
