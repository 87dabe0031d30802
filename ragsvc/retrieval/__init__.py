"""Hybrid (dense + BM25) retrieval over the index, and the FAQ matcher built on it."""
