"""Data: streaming readers for tabular files, labelled datasets, splits and batching."""
