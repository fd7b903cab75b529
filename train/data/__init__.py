"""Input data: records (JSON Lines, Parquet), cleaning, the chronological split, samples."""
