"""Checks that run while the load runs (observers) and pure judgements after it."""
