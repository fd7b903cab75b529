"""The model directory format (docs/MODEL_FORMAT.md), shared by `train`, `infer` and scripts/."""
