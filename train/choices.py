"""Names the CLI offers, kept free of heavy imports so `train --help` and argument
errors answer at once."""

FAMILIES = ("gbm", "hgb", "rf", "xgb", "mlp")
CALIBRATIONS = ("sigmoid", "isotonic", "none")
