"""Input data: reading records (JSON Lines, Parquet), cleaning, the chronological split, synthetic samples."""
