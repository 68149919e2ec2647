"""Training, prediction and evaluation command-line tools built on ``model.fit``."""
