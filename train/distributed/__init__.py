"""`train fit --engine dask`: labeling, splitting and fitting on a Dask cluster."""
