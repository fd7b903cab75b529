"""`train backtest`: walk-forward retraining against a model trained once, and its report."""
