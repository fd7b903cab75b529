"""Names the CLI offers, kept free of heavy imports so `train --help` and argument
errors answer at once."""

from train.model.families import NAMES as FAMILIES

CALIBRATIONS = ("auto", "sigmoid", "isotonic", "none")

__all__ = ["CALIBRATIONS", "FAMILIES"]
