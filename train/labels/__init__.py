"""Sigma-reversion labels, and the realised reversion they threshold, from the price path."""
