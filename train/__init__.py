"""sigmagate training pipeline: labels, leakage-safe training, ONNX export, manifest, report."""
