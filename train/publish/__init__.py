"""Publishing a model directory: the fit run, manifest.json, drift reference bins, report.md."""
