"""sigmagate's benchmarks: `python -m bench` (what `make bench` runs) measures
everything and rewrites docs/BENCHMARKS.md from the measured results."""
