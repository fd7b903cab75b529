"""The model families, the scaler + classifier pipeline, search, calibration, metrics, fit."""
